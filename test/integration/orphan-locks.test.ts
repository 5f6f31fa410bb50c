import { CoordinationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../devcluster/local-stack.ts';
import { waitFor } from '../../devcluster/processes.ts';
import { jobNames, newJobId } from '../../lib/job/names.ts';
import { loadKubeConfig } from '../../lib/kube/client.ts';
import { escrowClient, lockJobPayment, type EscrowClient } from '../../lib/payment/escrow.ts';
import { escrowLockId } from '../../lib/payment/lock-policy.ts';
import { FileServer } from '../support/engine-jobs.ts';
import { EscrowTestChain, createPaidJob, readPaidJob, waitForPaidJob } from '../support/escrow-chain.ts';
import { buildJob, sha256, shellAlgorithm } from '../support/job-fixtures.ts';

/**
 * Escrow locks that no job will settle, made for real on the dev chain: one whose start died between its lock and
 * its job (the lock and nothing else), and one whose job was withdrawn after locking without giving it back. The
 * engine's sweep gives both back to their payers once they have had no job for ORPHAN_LOCK_MIN_AGE_SECONDS, and
 * never touches the lock of a job that runs meanwhile, which the job's own settlement then claims.
 */

const env = inject('platform');
const ns = env.namespaces.jobs;
const MIN_AGE_SECONDS = 4;
const DATASET = 'a,b\n1,2\n';
let core: CoreV1Api;
let stack: LocalStack;
let files: FileServer;
let chain: EscrowTestChain;
let client: EscrowClient;
const provider = new Wallet(env.keys.provider);

beforeAll(async () => {
  const kc = loadKubeConfig(env.kubeconfig);
  core = kc.makeApiClient(CoreV1Api);
  chain = await new EscrowTestChain(env, provider.address.toLowerCase()).init();
  client = escrowClient({
    rpcUrl: env.rpcUrl,
    chainId: env.chainId,
    key: env.keys.provider,
    escrowAddress: env.ocean.Escrow!,
    requestTimeoutMs: 10_000,
    leases: kc.makeApiClient(CoordinationV1Api),
    namespace: env.namespaces.system,
  });
  files = await new FileServer().start(env);
  files.file('/data.csv', DATASET);
  stack = await startLocalStack(env, {
    engine: true,
    engineSettings: { ORPHAN_LOCK_MIN_AGE_SECONDS: String(MIN_AGE_SECONDS), ORPHAN_LOCK_SWEEP_SECONDS: '1' },
  });
});

afterAll(async () => {
  await stack?.stop();
  await files?.close();
  chain?.close();
});

describe('orphan escrow locks', () => {
  it('are given back to their payers, and a running job keeps its own', async () => {
    const q = chain.quote();
    const payer = await chain.newPayer('100');
    await chain.depositAndAuthorize(payer, '50', 10, q.payment.minLockSeconds);
    const fromBlock = await chain.rpc.getBlockNumber();

    // A start that died after its lock: the lock exists, its job never will.
    const lost = newJobId();
    await lockJobPayment(client, { jobId: lost, owner: payer.address }, q);
    const lostAt = Date.now();

    // A job withdrawn after locking (an order taken over), whose lock was not given back.
    const withdrawn = buildJob({
      environment: stack.environmentId,
      owner: payer.address.toLowerCase(),
      datasets: [{ files: [{ url: files.url('/data.csv'), checksum: sha256(DATASET) }] }],
      algorithm: shellAlgorithm('echo never'),
    });
    const withdrawnPayment = await lockJobPayment(client, { jobId: withdrawn.workflow.jobId, owner: payer.address }, q);
    await createPaidJob(core, ns, withdrawn, withdrawnPayment);
    await core.deleteNamespacedConfigMap({ name: jobNames(withdrawn.workflow.jobId).configMap, namespace: ns });

    // A job that runs past the sweep's bound: its lock is its own.
    const running = buildJob({
      environment: stack.environmentId,
      owner: payer.address.toLowerCase(),
      datasets: [{ files: [{ url: files.url('/data.csv'), checksum: sha256(DATASET) }] }],
      algorithm: shellAlgorithm(`echo paid > "$OUTPUTS/out.txt"; sleep ${MIN_AGE_SECONDS * 3}`),
      maxDurationSeconds: 120,
    });
    const runningPayment = await lockJobPayment(client, { jobId: running.workflow.jobId, owner: payer.address }, q);
    await createPaidJob(core, ns, running, runningPayment);
    expect((await chain.funds(payer.address)).locked).toBe(3n * BigInt(q.payment.amount));

    const open = async (): Promise<Set<bigint>> => new Set((await chain.locks()).map((l) => l.jobId));
    await waitFor(
      'the two orphan locks given back',
      async () => {
        const locks = await open();
        return !locks.has(escrowLockId(lost)) && !locks.has(escrowLockId(withdrawn.workflow.jobId));
      },
      60_000,
      200,
    );
    const sweptAfterMs = Date.now() - lostAt;
    console.log(`orphan locks given back ${sweptAfterMs} ms after the first was made (bound ${MIN_AGE_SECONDS} s)`);
    expect(sweptAfterMs).toBeGreaterThanOrEqual(MIN_AGE_SECONDS * 1000);
    // The running job's lock is still there, and its job still runs.
    expect((await open()).has(escrowLockId(running.workflow.jobId))).toBe(true);
    const meanwhile = await readPaidJob(core, ns, running.workflow.jobId);
    expect(meanwhile.settlement).toBeUndefined();
    expect(await chain.funds(payer.address)).toEqual({
      available: 50n * 10n ** BigInt(chain.decimals) - BigInt(q.payment.amount),
      locked: BigInt(q.payment.amount),
    });
    // Each orphan was claimed at 0 (all back to the payer), once.
    const claims = await chain.claims(payer.address, fromBlock);
    const orphanClaims = claims.filter(
      (c) => c.jobId === escrowLockId(lost) || c.jobId === escrowLockId(withdrawn.workflow.jobId),
    );
    expect(orphanClaims.map((c) => c.amount)).toEqual([0n, 0n]);

    // The running job ends and settles its own lock as usual.
    const done = await waitForPaidJob(
      core,
      ns,
      running.workflow.jobId,
      'settled',
      (s) => s.settlement?.outcome !== undefined,
    );
    expect(done.job.status.code).toBe(70);
    expect(done.settlement!.outcome).toMatchObject({ kind: 'claimed' });
    expect((await chain.funds(payer.address)).locked).toBe(0n);
    expect((await open()).has(escrowLockId(running.workflow.jobId))).toBe(false);
  });
});
