import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  AdmissionregistrationV1Api,
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type V1ConfigMap,
  type V1ValidatingAdmissionPolicy,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  applyAccessManifests,
  ENGINE_SERVICE_ACCOUNT,
  functionServiceAccount,
  mintServiceAccountIdentities,
  type ServiceAccountIdentities,
} from '../../devcluster/identities.ts';
import { waitFor } from '../../devcluster/processes.ts';
import { JobStore } from '../../lib/api/jobs.ts';
import { claimName, OrderClaims } from '../../lib/api/order-claims.ts';
import type { FunctionName } from '../../lib/api/endpoints.ts';
import { silentLogger } from '../support/silent-logger.ts';
import {
  buildJobConfigMap,
  readJobConfigMap,
  STATUS_KEY,
  statusPatch,
  STOP_ANNOTATION,
  WORKFLOW_KEY,
  type JobConfigMap,
} from '../../lib/job/configmap.ts';
import { LABELS, newJobId } from '../../lib/job/names.ts';
import { initialStatus, STATUS_TEXT, type JobStatus, type StatusCode } from '../../lib/job/status.ts';
import type { Workflow } from '../../lib/job/workflow.ts';
import { kubeStatus } from '../../lib/kube/errors.ts';
import { PAYMENT_KEY, SETTLEMENT_KEY } from '../../lib/payment/record.ts';
import { loadKubeConfig } from '../../lib/kube/client.ts';
import { secretData, workflow } from '../support/job-fixtures.ts';

/**
 * Issue 10, item 8: a function must not be able to rewrite a job. Each call here is made with the real token of the
 * function's ServiceAccount (TokenRequest API, as the local stack and a cluster give them), against the real API
 * server with the manifests' RBAC and admission policies: the attacks are refused, what the functions and the
 * engine legitimately do is accepted.
 */

const env = inject('platform');
const NS = env.namespaces.jobs;
const admin = loadKubeConfig(env.kubeconfig);
const adminCore = admin.makeApiClient(CoreV1Api);
const CHAIN = env.chainId;
let identities: ServiceAccountIdentities;
let dir: string;
const as: Partial<Record<FunctionName | 'engine', CoreV1Api>> = {};
const made: string[] = [];

const api = (who: FunctionName | 'engine'): CoreV1Api => as[who]!;
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

beforeAll(async () => {
  await applyAccessManifests(admin);
  dir = mkdtempSync(join(env.stateDir, 'admission-'));
  const accounts = {
    engine: ENGINE_SERVICE_ACCOUNT,
    start: functionServiceAccount('start'),
    stop: functionServiceAccount('stop'),
    delete: functionServiceAccount('delete'),
  };
  identities = await mintServiceAccountIdentities(admin, dir, Object.values(accounts), {
    namespace: env.namespaces.system,
    expirationSeconds: 600,
  });
  for (const [who, account] of Object.entries(accounts) as [keyof typeof accounts, string][]) {
    as[who] = loadKubeConfig(identities.kubeconfigs.get(account)).makeApiClient(CoreV1Api);
  }
  // The API server loads a new policy through a watch: wait (bounded) until it refuses a ConfigMap no function may
  // write. Without the policy the wait ends and the tests below say what went through.
  await waitFor(
    'the jobs admission policy to be in force',
    async () => {
      const refusal = await api('start')
        .createNamespacedConfigMap({
          namespace: NS,
          dryRun: 'All',
          body: { metadata: { name: `probe-${newJobId()}` }, data: {} },
        })
        .then(
          () => undefined,
          (err: unknown) => err,
        );
      return kubeStatus(refusal) === 403;
    },
    10_000,
  ).catch(() => undefined);
}, 60_000);

afterAll(async () => {
  for (const name of made) {
    await adminCore.deleteNamespacedConfigMap({ name, namespace: NS }).catch(() => undefined);
  }
  identities?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The engine fixture's workflow under a fresh id, with the checksum a job records for its algorithm. */
function jobWorkflow(): Workflow {
  const base = workflow({ jobId: newJobId() });
  const algorithm =
    base.algorithm.kind === 'published'
      ? { ...base.algorithm, files: [{ index: 0, checksum: 'e'.repeat(64) }] }
      : base.algorithm;
  return { ...base, algorithm } as Workflow;
}

function statusAt(code: StatusCode, final = false): JobStatus {
  const status = initialStatus(new Date());
  return {
    ...status,
    code,
    text: STATUS_TEXT[code],
    history: [...status.history, { code, text: STATUS_TEXT[code], at: status.updatedAt }],
    ...(final && { termination: { reason: 'finished' as const }, dateFinished: status.updatedAt }),
  };
}

/** A job as start creates it (start's own token and code), at status 1. */
async function startJob(): Promise<JobConfigMap> {
  const wf = jobWorkflow();
  made.push(`c2d-job-${wf.jobId}`);
  return new JobStore(api('start'), NS, silentLogger).create(wf, initialStatus(new Date()), secretData());
}

/** The engine writes the status, as its reconciler does (merge patch guarded by resourceVersion). */
async function engineSets(job: JobConfigMap, status: JobStatus): Promise<JobConfigMap> {
  return readJobConfigMap(
    await api('engine').patchNamespacedConfigMap(
      { name: job.name, namespace: NS, body: statusPatch(status, job.resourceVersion) },
      mergePatch,
    ),
  );
}

/** The refusal of `call`: 403, with the message the API server gave. */
async function refused(call: Promise<unknown>, what: string): Promise<string> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `${what}: accepted`).toBeDefined();
  expect(kubeStatus(err), `${what}: ${String(err)}`).toBe(403);
  return (JSON.parse(String((err as { body: unknown }).body)) as { message: string }).message;
}

const RULE = {
  jobsAndClaimsOnly: 'functions may only write jobs and order claims in c2d-jobs',
  create: 'only start creates a job, and only at its initial status',
  update: "functions may only set a job's stop request",
  delete: 'functions may only delete a finished job',
  claimsByStart: 'only start makes, attaches and releases order claims',
  claimFixed: 'an order claim may only be attached to the job it names',
} as const;

/** Refused by the admission policy's `rule` (RBAC would have let it through). */
async function deniedByPolicy(call: Promise<unknown>, rule: keyof typeof RULE, what: string): Promise<void> {
  const message = await refused(call, what);
  expect(message, what).toMatch(/ValidatingAdmissionPolicy 'c2d-function-job-writes'/);
  expect(message, what).toContain(RULE[rule]);
}

async function read(name: string): Promise<V1ConfigMap> {
  return adminCore.readNamespacedConfigMap({ name, namespace: NS });
}

describe('what the functions and the engine do to jobs (accepted)', () => {
  it('rests on a policy that type-checks against the ConfigMap schema without warnings', async () => {
    const registration = admin.makeApiClient(AdmissionregistrationV1Api);
    let policy: V1ValidatingAdmissionPolicy | undefined;
    await waitFor(
      'the policy to be type-checked',
      async () => {
        policy = await registration.readValidatingAdmissionPolicy({ name: 'c2d-function-job-writes' });
        return policy.status?.observedGeneration === policy.metadata?.generation;
      },
      10_000,
    );
    expect(policy?.status?.typeChecking?.expressionWarnings ?? []).toEqual([]);
  });

  it('start creates a job at status 1, stop sets its stop request, the engine moves it on and ends it, delete removes it', async () => {
    const job = await startJob();
    expect(job.status.code).toBe(1);
    const stopped = await new JobStore(api('stop'), NS, silentLogger).requestStop(job, new Date());
    expect(stopped.stopRequestedAt).toBeDefined();
    const running = await engineSets(stopped, statusAt(10));
    expect(running.status.code).toBe(10);
    const ended = await engineSets(running, statusAt(71, true));
    expect(ended.status.code).toBe(71);
    await new JobStore(api('delete'), NS, silentLogger).delete(ended);
    await expect(read(job.name)).rejects.toMatchObject({ code: 404 });
  });

  it("start creates a paid job with its escrow lock's record beside the workflow", async () => {
    const wf = jobWorkflow();
    made.push(`c2d-job-${wf.jobId}`);
    const job = await new JobStore(api('start'), NS, silentLogger).create(wf, initialStatus(new Date()), secretData(), {
      [PAYMENT_KEY]: '{"version":1}',
    });
    expect((await read(job.name)).data?.[PAYMENT_KEY]).toBe('{"version":1}');
  });

  it('start withdraws a job still at status 1, and claims, attaches and releases orders', async () => {
    const job = await startJob();
    const claims = new OrderClaims(api('start'), NS);
    const held = await claims.claimAll(CHAIN, ['0x' + newJobId() + newJobId()], job.workflow.jobId);
    expect(await claims.attach(held, job)).toEqual({ lost: [], failed: [] });
    await claims.release(held);
    await new JobStore(api('start'), NS, silentLogger).delete(job);
    await expect(read(job.name)).rejects.toMatchObject({ code: 404 });
  });
});

describe('what a compromised function might try (refused)', () => {
  let job: JobConfigMap;
  beforeAll(async () => {
    job = await engineSets(await startJob(), statusAt(40));
  });

  it("forging a job's status by patch, as start or as stop", async () => {
    const forged = { data: { [STATUS_KEY]: JSON.stringify(statusAt(70, true)) } };
    for (const fn of ['start', 'stop'] as const) {
      await deniedByPolicy(
        api(fn).patchNamespacedConfigMap({ name: job.name, namespace: NS, body: forged }, mergePatch),
        'update',
        `${fn} patching status`,
      );
    }
    expect(readJobConfigMap(await read(job.name)).status.code).toBe(40);
  });

  it("forging a job's status by update (start no longer holds update at all)", async () => {
    const current = await read(job.name);
    const body = { ...current, data: { ...current.data, [STATUS_KEY]: JSON.stringify(statusAt(70, true)) } };
    for (const fn of ['start', 'stop', 'delete'] as const) {
      await refused(
        api(fn).replaceNamespacedConfigMap({ name: job.name, namespace: NS, body }),
        `${fn} replacing the job`,
      );
    }
    expect(readJobConfigMap(await read(job.name)).status.code).toBe(40);
  });

  it('creating a job with a status other than the initial one', async () => {
    const wf = jobWorkflow();
    made.push(`c2d-job-${wf.jobId}`);
    for (const status of [statusAt(70, true), statusAt(10), { ...initialStatus(new Date()), stopRequested: true }]) {
      await deniedByPolicy(
        api('start').createNamespacedConfigMap({ namespace: NS, body: buildJobConfigMap(wf, status, NS) }),
        'create',
        `create at ${status.code}`,
      );
    }
  });

  it("creating a job with a settlement record (the engine's) or any other key beside the workflow", async () => {
    const wf = jobWorkflow();
    made.push(`c2d-job-${wf.jobId}`);
    const outcome = '{"version":1,"outcome":{"kind":"claimed","amount":"0","at":"2026-01-01T00:00:00.000Z"}}';
    const extras: Record<string, string>[] = [{ [SETTLEMENT_KEY]: outcome }, { 'results.json': '[]' }];
    for (const extra of extras) {
      const body = buildJobConfigMap(wf, initialStatus(new Date()), NS);
      body.data = { ...body.data, ...extra };
      await deniedByPolicy(
        api('start').createNamespacedConfigMap({ namespace: NS, body }),
        'create',
        `create with ${Object.keys(extra)[0]}`,
      );
    }
  });

  it("changing a job's workflow, its labels, or taking its stop request back", async () => {
    const other = { ...job.workflow, algorithm: { kind: 'raw' } };
    for (const fn of ['start', 'stop'] as const) {
      await deniedByPolicy(
        api(fn).patchNamespacedConfigMap(
          { name: job.name, namespace: NS, body: { data: { [WORKFLOW_KEY]: JSON.stringify(other) } } },
          mergePatch,
        ),
        'update',
        `${fn} patching the workflow`,
      );
    }
    const hijack = { metadata: { labels: { [LABELS.owner]: '0x' + '99'.repeat(20) } } };
    await deniedByPolicy(
      api('stop').patchNamespacedConfigMap({ name: job.name, namespace: NS, body: hijack }, mergePatch),
      'update',
      'moving the job to another owner',
    );
    const marked = await new JobStore(api('stop'), NS, silentLogger).requestStop(job, new Date());
    const unmark = { metadata: { annotations: { [STOP_ANNOTATION]: null } } };
    await deniedByPolicy(
      api('stop').patchNamespacedConfigMap({ name: job.name, namespace: NS, body: unmark }, mergePatch),
      'update',
      'removing the stop request',
    );
    const pin = { metadata: { finalizers: ['example.com/keep'] } };
    await deniedByPolicy(
      api('stop').patchNamespacedConfigMap({ name: job.name, namespace: NS, body: pin }, mergePatch),
      'update',
      'adding a finalizer',
    );
    job = marked;
  });

  it('deleting an unfinished job', async () => {
    await deniedByPolicy(
      new JobStore(api('delete'), NS, silentLogger).delete(job),
      'delete',
      'delete removing a running job',
    );
    await deniedByPolicy(
      new JobStore(api('start'), NS, silentLogger).delete(job),
      'delete',
      'start removing a running job',
    );
    const queued = await startJob();
    await deniedByPolicy(
      new JobStore(api('delete'), NS, silentLogger).delete(queued),
      'delete',
      'delete removing a queued job',
    );
    expect((await read(job.name)).metadata?.uid).toBe(job.uid);
  });

  it("writing any other ConfigMap in the jobs namespace, or another function's order claims", async () => {
    await deniedByPolicy(
      api('start').createNamespacedConfigMap({
        namespace: NS,
        body: { metadata: { name: 'c2d-results-override' }, data: {} },
      }),
      'jobsAndClaimsOnly',
      'start creating another ConfigMap',
    );
    const claims = new OrderClaims(api('start'), NS);
    const tx = '0x' + newJobId() + newJobId();
    const held = await claims.claimAll(CHAIN, [tx], job.workflow.jobId);
    const name = claimName(CHAIN, tx);
    made.push(name);
    await deniedByPolicy(
      api('delete').deleteNamespacedConfigMap({ name, namespace: NS }),
      'claimsByStart',
      'delete releasing a claim',
    );
    await deniedByPolicy(
      api('stop').patchNamespacedConfigMap(
        { name, namespace: NS, body: { metadata: { ownerReferences: [] } } },
        mergePatch,
      ),
      'claimsByStart',
      'stop patching a claim',
    );
    await deniedByPolicy(
      api('start').patchNamespacedConfigMap({ name, namespace: NS, body: { data: { jobId: newJobId() } } }, mergePatch),
      'claimFixed',
      'start moving a claim to another job',
    );
    const elsewhere = { ...job, name: `c2d-job-${newJobId()}` };
    expect(await claims.attach(held, elsewhere)).toMatchObject({ lost: [], failed: [{ claim: { name } }] });
    expect((await read(name)).data?.jobId).toBe(job.workflow.jobId);
  });
});
