import { describe, expect, it } from 'vitest';
import {
  CLAIM_JOB_DEADLINE_MS,
  claimName,
  OrderClaims,
  STALE_CLAIM_AFTER_MS,
  type HeldClaims,
} from '../../../../lib/api/order-claims.ts';
import { HttpError } from '../../../../lib/http/errors.ts';
import { buildJobConfigMap, readJobConfigMap, type JobConfigMap } from '../../../../lib/job/configmap.ts';
import { initialStatus, STATUS_TEXT, type JobStatus } from '../../../../lib/job/status.ts';
import { FakeConfigMaps, apiError } from '../../../support/fake-configmaps.ts';
import { workflow } from '../../../support/job-fixtures.ts';

const CHAIN = 8996;
const DATASET_TX = '0x' + 'aa'.repeat(32);
const ALGO_TX = '0x' + 'bb'.repeat(32);
const JOB_A = 'a'.repeat(32);
const JOB_B = 'b'.repeat(32);

/** The engine fixture's workflow with the algorithm's checksum, which a job records. */
function jobWorkflow(jobId: string) {
  const base = workflow({ jobId });
  const algorithm =
    base.algorithm.kind === 'published'
      ? { ...base.algorithm, files: [{ index: 0, checksum: 'e'.repeat(64) }] }
      : base.algorithm;
  return { ...base, algorithm } as ReturnType<typeof workflow>;
}

function setup() {
  const api = new FakeConfigMaps();
  const clock = { wall: Date.parse('2026-01-01T00:00:00Z'), monotonic: 1_000 };
  api.now = () => new Date(clock.wall);
  const claims = new OrderClaims(api.asCore(), 'c2d-jobs', {
    wallMs: () => clock.wall,
    monotonicMs: () => clock.monotonic,
  });
  const createJob = (jobId: string, status: JobStatus = initialStatus(new Date(clock.wall))): JobConfigMap =>
    readJobConfigMap(api.put(buildJobConfigMap(jobWorkflow(jobId), status)));
  const claimOf = (tx: string) => api.objects.get(claimName(CHAIN, tx));
  return { api, clock, claims, createJob, claimOf };
}

const finished = (): JobStatus => ({
  ...initialStatus(new Date('2026-01-01T00:00:00Z')),
  code: 70,
  text: STATUS_TEXT[70],
  termination: { reason: 'finished' },
});

async function refusal(p: Promise<unknown>): Promise<HttpError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(HttpError);
  return err as HttpError;
}

describe('OrderClaims', () => {
  it('claims each order once, in a fixed order, naming the job', async () => {
    const { claims, claimOf } = setup();
    const held = await claims.claimAll(CHAIN, [ALGO_TX, DATASET_TX.toUpperCase().replace('0X', '0x'), ALGO_TX], JOB_A);
    expect(held.claims.map((c) => c.name)).toEqual([claimName(CHAIN, DATASET_TX), claimName(CHAIN, ALGO_TX)]);
    expect(claimOf(DATASET_TX)?.data).toEqual({ chainId: String(CHAIN), txId: DATASET_TX, jobId: JOB_A });
    expect(held.claims[0]!.uid).toBe(claimOf(DATASET_TX)?.metadata?.uid);
  });

  it('never takes over a fresh claim whose job does not exist yet', async () => {
    const { claims, claimOf } = setup();
    const first = await claims.claimAll(CHAIN, [DATASET_TX], JOB_A);
    const err = await refusal(claims.claimAll(CHAIN, [DATASET_TX], JOB_B));
    expect(err.status).toBe(409);
    expect(err.message).toMatch(/being used by another request/);
    expect(claimOf(DATASET_TX)?.metadata?.uid).toBe(first.claims[0]!.uid);
    expect(claimOf(DATASET_TX)?.data?.jobId).toBe(JOB_A);
  });

  it('refuses an order whose job has not finished', async () => {
    const { claims, createJob } = setup();
    await claims.claimAll(CHAIN, [DATASET_TX], JOB_A);
    createJob(JOB_A);
    const err = await refusal(claims.claimAll(CHAIN, [DATASET_TX], JOB_B));
    expect(err.message).toMatch(new RegExp(`already backs job ${JOB_A}`));
  });

  it("takes over the claim of a finished job as a new claim, which the old claim's release leaves alone", async () => {
    const { claims, createJob, claimOf } = setup();
    const old = await claims.claimAll(CHAIN, [DATASET_TX], JOB_A);
    createJob(JOB_A, finished());
    const taken = await claims.claimAll(CHAIN, [DATASET_TX], JOB_B);
    expect(taken.claims[0]!.uid).not.toBe(old.claims[0]!.uid);
    expect(claimOf(DATASET_TX)?.data?.jobId).toBe(JOB_B);
    await claims.release(old);
    expect(claimOf(DATASET_TX)?.metadata?.uid).toBe(taken.claims[0]!.uid);
  });

  it('takes over a claim whose job is gone after it was attached to it', async () => {
    const { api, claims, createJob, claimOf } = setup();
    const held = await claims.claimAll(CHAIN, [DATASET_TX], JOB_A);
    const job = createJob(JOB_A);
    expect(await claims.attach(held, job)).toEqual({ lost: [], failed: [] });
    api.objects.delete(job.name);
    await claims.claimAll(CHAIN, [DATASET_TX], JOB_B);
    expect(claimOf(DATASET_TX)?.data?.jobId).toBe(JOB_B);
    expect(claimOf(DATASET_TX)?.metadata?.ownerReferences).toBeUndefined();
  });

  it('takes over a claim with no job only once it is older than a start request can be', async () => {
    const { claims, clock, claimOf } = setup();
    await claims.claimAll(CHAIN, [DATASET_TX], JOB_A);
    clock.wall += STALE_CLAIM_AFTER_MS;
    expect((await refusal(claims.claimAll(CHAIN, [DATASET_TX], JOB_B))).status).toBe(409);
    clock.wall += 1;
    await claims.claimAll(CHAIN, [DATASET_TX], JOB_B);
    expect(claimOf(DATASET_TX)?.data?.jobId).toBe(JOB_B);
  });

  it('does not take over a claim that changed after it was judged free', async () => {
    const { api, claims, createJob, claimOf } = setup();
    const held = await claims.claimAll(CHAIN, [DATASET_TX], JOB_A);
    const job = createJob(JOB_A, finished());
    // The holder attaches between the taker's read and its delete (the fake applies the patch at once): the
    // resourceVersion precondition fails.
    let deletes = 0;
    api.before = (call, name) => {
      if (call === 'delete' && name === claimName(CHAIN, DATASET_TX) && ++deletes === 1) void claims.attach(held, job);
    };
    expect((await refusal(claims.claimAll(CHAIN, [DATASET_TX], JOB_B))).status).toBe(409);
    expect(claimOf(DATASET_TX)?.metadata?.uid).toBe(held.claims[0]!.uid);
  });

  it('releases the claims it made when a later order is taken', async () => {
    const { claims, claimOf } = setup();
    await claims.claimAll(CHAIN, [ALGO_TX], JOB_A);
    expect((await refusal(claims.claimAll(CHAIN, [DATASET_TX, ALGO_TX], JOB_B))).status).toBe(409);
    expect(claimOf(DATASET_TX)).toBeUndefined();
    expect(claimOf(ALGO_TX)?.data?.jobId).toBe(JOB_A);
  });

  it('attaches every claim, reporting the lost and the failed ones instead of stopping at the first', async () => {
    const { api, claims, createJob, claimOf } = setup();
    const third = '0x' + 'cc'.repeat(32);
    const held = await claims.claimAll(CHAIN, [DATASET_TX, ALGO_TX, third], JOB_A);
    const job = createJob(JOB_A);
    api.objects.delete(claimName(CHAIN, DATASET_TX));
    const algoClaim = claimOf(ALGO_TX)!;
    api.objects.delete(claimName(CHAIN, ALGO_TX));
    api.put({ ...algoClaim, metadata: { name: algoClaim.metadata!.name! }, data: { ...algoClaim.data, jobId: JOB_B } });
    const thirdName = claimName(CHAIN, third);
    api.before = (call, name) => {
      if (call === 'patch' && name === thirdName) throw apiError(500, 'etcd timeout');
    };
    api.put({ metadata: { name: 'c2d-order-unrelated' } });
    const outcome = await claims.attach(held, job);
    expect(outcome.lost.map((c) => c.name).sort()).toEqual(
      [claimName(CHAIN, DATASET_TX), claimName(CHAIN, ALGO_TX)].sort(),
    );
    expect(outcome.failed.map((f) => f.claim.name)).toEqual([thirdName]);
    // The other request's claim was not made the job's.
    expect(claimOf(ALGO_TX)?.metadata?.ownerReferences).toBeUndefined();
  });

  it('attaches claims as owned by the job, not controlled by it', async () => {
    const { claims, createJob, claimOf } = setup();
    const held = await claims.claimAll(CHAIN, [DATASET_TX], JOB_A);
    const job = createJob(JOB_A);
    await claims.attach(held, job);
    expect(claimOf(DATASET_TX)?.metadata?.ownerReferences).toEqual([
      { apiVersion: 'v1', kind: 'ConfigMap', name: job.name, uid: job.uid, controller: false },
    ]);
  });

  it('refuses to go on once the claims are older than the deadline for creating the job', async () => {
    const { claims, clock } = setup();
    const held: HeldClaims = await claims.claimAll(CHAIN, [DATASET_TX], JOB_A);
    clock.monotonic += CLAIM_JOB_DEADLINE_MS;
    expect(() => claims.assertInTime(held)).not.toThrow();
    clock.monotonic += 1;
    expect(() => claims.assertInTime(held)).toThrow(expect.objectContaining({ status: 503 }));
    expect(CLAIM_JOB_DEADLINE_MS).toBeLessThan(STALE_CLAIM_AFTER_MS / 2);
  });
});
