import { ApiException, type V1ConfigMap, type V1Pod } from '@kubernetes/client-node';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import { ClusterView } from '../../../engine/cluster-view.ts';
import { EngineMetrics } from '../../../engine/metrics.ts';
import { DEFAULT_PLANNER_SETTINGS, type PlannerSettings } from '../../../engine/planner.ts';
import { DEFAULT_POD_SPEC_SETTINGS } from '../../../engine/pod-specs.ts';
import { Reconciler } from '../../../engine/reconciler.ts';
import type { Logger } from '../../../lib/http/log.ts';
import { CONFIGURE_EXIT } from '../../../lib/job/exit-codes.ts';
import { STATUS_KEY, readJobConfigMap, stopRequestPatch } from '../../../lib/job/configmap.ts';
import { jobNames, type Stage } from '../../../lib/job/names.ts';
import { resultsManifestKey, serializeResultsManifest } from '../../../lib/job/results-manifest.ts';
import { buildJobSecret } from '../../../lib/job/secret.ts';
import { StatusCode, parseStatusJson, type JobStatus, type Result } from '../../../lib/job/status.ts';
import { FakeKubeApi } from '../../support/fake-kube-api.ts';
import { environment, environmentsConfigMap, jobConfigMap, nthJobId, secretData } from '../../support/job-fixtures.ts';

const NS = 'c2d-jobs';
const S = DEFAULT_PLANNER_SETTINGS;
const results = (jobId: string): Result[] => [
  { index: 0, filename: 'out.txt', filesize: 1, type: 'output', key: `${jobId}/outputs/out.txt` },
  { index: 1, filename: 'publish.log', filesize: 1, type: 'publishLog', key: `${jobId}/logs/publish.log` },
];

/** The results store's GetObject, over manifests by key; while `outage.error` is set, every request fails with it. */
function manifestStore(manifests: Map<string, string>, outage: { error?: Error }): S3Client {
  return {
    send: async (cmd: { input: { Key: string } }) => {
      if (outage.error) throw outage.error;
      const manifest = manifests.get(cmd.input.Key);
      if (manifest === undefined) throw Object.assign(new Error('no such key'), { name: 'NoSuchKey' });
      return { ContentLength: manifest.length, Body: { transformToString: async () => manifest } };
    },
  } as unknown as S3Client;
}

const refusal = (code: number): ApiException<unknown> =>
  new ApiException(
    code,
    'refused',
    JSON.stringify({ kind: 'Status', code, message: 'ConfigMap "c2d-job-x" is invalid: []: Too long' }),
    {},
  );

const views: ClusterView[] = [];
afterEach(async () => {
  await Promise.all(views.splice(0).map((v) => v.stop()));
});

/** A reconciler over a started view of a fake API that holds the environments (`maxConcurrentJobs` slots). */
async function harness(maxConcurrentJobs = 2, planner: PlannerSettings = S) {
  const api = new FakeKubeApi();
  api.put('configmaps', environmentsConfigMap(NS, environment({ maxConcurrentJobs })));
  const manifests = new Map<string, string>();
  const outage: { error?: Error } = {};
  const errors: string[] = [];
  const log: Logger = { info: () => undefined, warn: () => undefined, error: (msg) => void errors.push(msg) };
  const view = new ClusterView(
    { core: api, watch: api },
    { namespace: NS, environmentsNamespace: NS, onJob: () => undefined, onEnvironments: () => undefined, log },
  );
  views.push(view);
  await view.start();
  const reconciler = new Reconciler({
    api,
    view,
    namespace: NS,
    planner,
    pods: DEFAULT_POD_SPEC_SETTINGS,
    store: { client: manifestStore(manifests, outage), bucket: 'results' },
    metrics: new EngineMetrics(),
    log,
    identity: 'test',
  });
  /** Every status the reconciler tried to write, refused or not. */
  const statusWrites: JobStatus[] = [];
  const patch = api.patchNamespacedConfigMap.bind(api);
  api.patchNamespacedConfigMap = async (req) => {
    const data = (req.body as { data?: Record<string, string> }).data;
    if (data?.[STATUS_KEY]) statusWrites.push(parseStatusJson(data[STATUS_KEY]));
    return patch(req);
  };

  /** Job n, as `start` leaves it (its ConfigMap and Secret) or at a later code. */
  const addJob = async (n: number, code: StatusCode = StatusCode.WarmingUp): Promise<string> => {
    const cm = api.put('configmaps', jobConfigMap(n, code, { namespace: NS }));
    const job = readJobConfigMap(cm);
    api.put('secrets', buildJobSecret(job.workflow, secretData(), job, NS));
    await api.flush();
    return job.workflow.jobId;
  };
  const statusOf = (jobId: string): JobStatus =>
    readJobConfigMap(api.get<V1ConfigMap>('configmaps', NS, jobNames(jobId).configMap)!).status;
  const pod = (jobId: string, stage: Stage): V1Pod | undefined =>
    api.get<V1Pod>('pods', NS, jobNames(jobId).pods[stage]);
  const finish = async (jobId: string, stage: Stage, exitCode = 0): Promise<void> => {
    api.finishPod(NS, jobNames(jobId).pods[stage], exitCode);
    await api.flush();
  };
  const reconcile = async (jobId: string) => {
    const result = await reconciler.reconcile(jobId);
    await api.flush();
    return result;
  };
  return { api, view, reconciler, manifests, outage, errors, statusWrites, addJob, statusOf, pod, finish, reconcile };
}

const near = (ms: number) => ({
  asymmetricMatch: (v: number) => v <= ms && v > ms - 5_000,
  toString: () => `about ${ms} ms`,
});

describe('Reconciler: a job through its stages', () => {
  it('queued → configure → algorithm → publish → 70, asking to be looked at again at each deadline', async () => {
    const h = await harness();
    const jobId = await h.addJob(1);

    // The new pod's own event brings the next look.
    expect(await h.reconcile(jobId)).toEqual({});
    expect(h.statusOf(jobId).code).toBe(StatusCode.ConfiguringVolumes);
    expect(h.statusOf(jobId).history.map((e) => e.code)).toEqual([1, 10, 20]);
    expect(h.pod(jobId, 'configure')?.status?.phase).toBe('Pending');
    expect(h.api.get('persistentvolumeclaims', NS, jobNames(jobId).pvc)).toBeDefined();

    // Nothing changed: look again at the configure deadline; nothing written.
    const writes = h.statusWrites.length;
    expect(await h.reconcile(jobId)).toEqual({
      requeueAfterMs: near((S.configureDeadlineSeconds + S.deadlineGraceSeconds) * 1000),
    });
    expect(h.statusWrites).toHaveLength(writes);

    await h.finish(jobId, 'configure');
    expect(await h.reconcile(jobId)).toEqual({});
    expect(h.statusOf(jobId).code).toBe(StatusCode.RunningAlgorithm);
    expect(h.pod(jobId, 'algorithm')).toBeDefined();
    // The algorithm runs without the job's Secret.
    expect(await h.reconcile(jobId)).toEqual({ requeueAfterMs: near((60 + S.deadlineGraceSeconds) * 1000) });
    expect(h.api.get('secrets', NS, jobNames(jobId).secret)).toBeUndefined();

    await h.finish(jobId, 'algorithm');
    expect(await h.reconcile(jobId)).toEqual({});
    expect(h.statusOf(jobId).code).toBe(StatusCode.PublishingResults);
    expect(h.pod(jobId, 'publish')).toBeDefined();

    h.manifests.set(resultsManifestKey(jobId), serializeResultsManifest(jobId, results(jobId)));
    await h.finish(jobId, 'publish');
    // Two slots, one used: ending makes room but nobody is queued.
    expect(await h.reconcile(jobId)).toEqual({});
    const final = h.statusOf(jobId);
    expect(final.code).toBe(StatusCode.JobFinished);
    expect(final.results).toEqual(results(jobId));
    expect(final.resultsTotal).toBe(2);
    // Finished pods stay until the storage expires (their logs are served from them), and then the job is looked at.
    expect(await h.reconcile(jobId)).toEqual({ requeueAfterMs: near(3_600_000) });
    expect(h.pod(jobId, 'publish')).toBeDefined();
    expect(h.api.calls.filter((c) => c.startsWith('createNamespacedEvent'))).toEqual([
      'createNamespacedEvent ConfigureStarted',
      'createNamespacedEvent AlgorithmStarted',
      'createNamespacedEvent PublishStarted',
      'createNamespacedEvent JobFinished',
    ]);
  });

  it('a failing algorithm still publishes, and the job ends with 41', async () => {
    const h = await harness();
    const jobId = await h.addJob(1);
    await h.reconcile(jobId);
    await h.finish(jobId, 'configure');
    await h.reconcile(jobId);
    await h.finish(jobId, 'algorithm', 1);
    await h.reconcile(jobId);
    expect(h.statusOf(jobId)).toMatchObject({
      code: StatusCode.PublishingResults,
      outcome: { reason: 'algorithmFailed', stage: 'algorithm', exitCode: 1 },
    });
    h.manifests.set(resultsManifestKey(jobId), serializeResultsManifest(jobId, results(jobId)));
    await h.finish(jobId, 'publish');
    await h.reconcile(jobId);
    expect(h.statusOf(jobId)).toMatchObject({
      code: StatusCode.AlgorithmFailed,
      termination: { reason: 'algorithmFailed', exitCode: 1 },
    });
  });

  it('a configure that cannot get the data runs no algorithm, and the job ends with 31', async () => {
    const h = await harness();
    const jobId = await h.addJob(1);
    await h.reconcile(jobId);
    await h.finish(jobId, 'configure', CONFIGURE_EXIT.dataFailed);
    await h.reconcile(jobId);
    expect(h.pod(jobId, 'algorithm')).toBeUndefined();
    h.manifests.set(resultsManifestKey(jobId), serializeResultsManifest(jobId, []));
    await h.finish(jobId, 'publish');
    await h.reconcile(jobId);
    expect(h.statusOf(jobId)).toMatchObject({
      code: StatusCode.DataProvisioningFailed,
      termination: { reason: 'dataProvisioningFailed', stage: 'configure' },
    });
  });

  it('a stop request ends a running job at once: its pod deleted, 71', async () => {
    const h = await harness();
    const jobId = await h.addJob(1);
    await h.reconcile(jobId);
    await h.finish(jobId, 'configure');
    await h.reconcile(jobId);
    h.api.patch('configmaps', NS, jobNames(jobId).configMap, stopRequestPatch(new Date()));
    await h.api.flush();
    await h.reconcile(jobId);
    expect(h.pod(jobId, 'algorithm')).toBeUndefined();
    expect(h.statusOf(jobId)).toMatchObject({
      code: StatusCode.JobStopped,
      termination: { reason: 'stopped', stage: 'algorithm' },
    });
  });

  it('a job whose ConfigMap is gone, or is not a valid job, needs nothing', async () => {
    const h = await harness();
    expect(await h.reconcile(nthJobId(9))).toEqual({});
    h.api.put('configmaps', {
      ...jobConfigMap(2, StatusCode.WarmingUp, { namespace: NS }),
      data: { [STATUS_KEY]: '{}' },
    });
    await h.api.flush();
    expect(await h.reconcile(nthJobId(2))).toEqual({});
    expect(h.errors).toEqual(['job ConfigMap is invalid; ignoring it']);
    expect(h.api.calls.filter((c) => !c.startsWith('list'))).toEqual([]);
  });
});

describe('Reconciler: the queue', () => {
  it('keeps queued jobs waiting while the slots are taken, and names the one to go next when a slot frees', async () => {
    const h = await harness(1);
    const running = await h.addJob(1);
    await h.reconcile(running);
    // 200 jobs queued behind it, created newest first.
    for (let n = 201; n >= 2; n--) h.api.put('configmaps', jobConfigMap(n, StatusCode.WarmingUp, { namespace: NS }));
    h.api.put('configmaps', jobConfigMap(300, StatusCode.WarmingUp, { namespace: NS, stopRequested: true }));
    for (let n = 2; n <= 201; n++) {
      const job = readJobConfigMap(h.api.get<V1ConfigMap>('configmaps', NS, jobNames(nthJobId(n)).configMap)!);
      h.api.put('secrets', buildJobSecret(job.workflow, secretData(), job, NS));
    }
    await h.api.flush();

    expect(await h.reconcile(nthJobId(2))).toEqual({});
    expect(await h.reconcile(nthJobId(3))).toEqual({});
    expect(h.statusOf(nthJobId(2)).code).toBe(StatusCode.WarmingUp);

    h.api.patch('configmaps', NS, jobNames(running).configMap, stopRequestPatch(new Date()));
    await h.api.flush();
    expect(await h.reconcile(running)).toEqual({ enqueue: [nthJobId(2)] });
    expect(h.statusOf(running).code).toBe(StatusCode.JobStopped);

    // It takes the slot, which makes room for nobody; the next one stays queued.
    expect(await h.reconcile(nthJobId(2))).toEqual({});
    expect(h.statusOf(nthJobId(2)).code).toBe(StatusCode.ConfiguringVolumes);
    expect(await h.reconcile(nthJobId(3))).toEqual({});
    expect(h.statusOf(nthJobId(3)).code).toBe(StatusCode.WarmingUp);
  });

  it("counts a job's own write before the informer has seen it: looking again writes nothing, and the next job waits", async () => {
    const h = await harness(1);
    const [a, b] = [await h.addJob(1), await h.addJob(2)];
    h.api.hold();
    await h.reconciler.reconcile(a);
    expect(h.statusWrites.map((s) => s.code)).toEqual([StatusCode.ConfiguringVolumes]);
    const [again] = await Promise.all([h.reconciler.reconcile(a), h.reconciler.reconcile(b)]);
    expect(again).toEqual({ requeueAfterMs: near((S.configureDeadlineSeconds + S.deadlineGraceSeconds) * 1000) });
    expect(h.statusWrites.map((s) => s.code)).toEqual([StatusCode.ConfiguringVolumes]);
    expect([h.statusOf(a).code, h.statusOf(b).code]).toEqual([StatusCode.ConfiguringVolumes, StatusCode.WarmingUp]);
    expect(h.pod(b, 'configure')).toBeUndefined();
    h.api.release();
    await h.api.flush();
  });

  it('a job without its Secret waits for it, then fails once the wait is over', async () => {
    const h = await harness();
    h.api.put('configmaps', jobConfigMap(1, StatusCode.WarmingUp, { namespace: NS }));
    await h.api.flush();
    // Created in 2025: the Secret wait is long over.
    await h.reconcile(nthJobId(1));
    expect(h.statusOf(nthJobId(1))).toMatchObject({
      code: StatusCode.DataProvisioningFailed,
      termination: { message: "the job's Secret never appeared" },
    });
  });
});

describe('Reconciler: status writes', () => {
  /** Job 1 publishing, its publish pod done and its manifest stored (or not). */
  async function publishing(manifest = true) {
    const h = await harness();
    const jobId = await h.addJob(1);
    await h.reconcile(jobId);
    await h.finish(jobId, 'configure');
    await h.reconcile(jobId);
    await h.finish(jobId, 'algorithm');
    await h.reconcile(jobId);
    if (manifest) h.manifests.set(resultsManifestKey(jobId), serializeResultsManifest(jobId, results(jobId)));
    await h.finish(jobId, 'publish');
    h.statusWrites.length = 0;
    return { ...h, jobId };
  }

  it('a guarded write that loses to a concurrent change is a requeue, and the next look sees the change', async () => {
    const h = await publishing();
    // Someone asks to stop the job; the informer has not seen it yet.
    h.api.hold();
    h.api.patch('configmaps', NS, jobNames(h.jobId).configMap, stopRequestPatch(new Date()));
    expect(await h.reconciler.reconcile(h.jobId)).toEqual({ requeue: true });
    expect(h.statusWrites.map((s) => s.code)).toEqual([StatusCode.JobFinished]);
    expect(h.statusOf(h.jobId).code).toBe(StatusCode.PublishingResults);
    h.api.release();
    await h.api.flush();
    await h.reconcile(h.jobId);
    expect(h.statusOf(h.jobId).code).toBe(StatusCode.JobStopped);
  });

  it('no manifest → 62', async () => {
    const h = await publishing(false);
    await h.reconcile(h.jobId);
    expect(h.statusWrites.map((s) => s.code)).toEqual([62]);
    expect(h.statusOf(h.jobId).termination?.message).toContain('no results manifest in the store');
  });

  it.each([400, 403, 413, 422])('a status refused with %i ends the job with a failure instead', async (code) => {
    const h = await publishing();
    h.api.failNext('patchNamespacedConfigMap', refusal(code));
    await h.reconcile(h.jobId);
    expect(h.statusWrites.map((s) => s.code)).toEqual([70, 62]);
    const final = h.statusOf(h.jobId);
    expect(final.termination).toMatchObject({ reason: 'resultsUploadFailed', stage: 'publish' });
    expect(final.termination?.message).toBe(
      `the job's status could not be recorded: ${code}: ConfigMap "c2d-job-x" is invalid: []: Too long`,
    );
    expect(final.results).toEqual([]);
    expect(h.errors).toEqual(["the API server refused the job's status; ending the job"]);
  });

  it('when even the failure status is refused it gives up without an error to retry', async () => {
    const h = await publishing();
    h.api.failNext('patchNamespacedConfigMap', refusal(422));
    h.api.failNext('patchNamespacedConfigMap', refusal(422));
    expect(await h.reconcile(h.jobId)).toEqual({});
    expect(h.statusWrites.map((s) => s.code)).toEqual([70, 62]);
    expect(h.errors).toHaveLength(2);
    expect(h.statusOf(h.jobId).code).toBe(StatusCode.PublishingResults);
  });

  it.each([429, 500, 503])(
    'a %i is transient: the reconcile fails, for the loop to retry with backoff',
    async (code) => {
      const h = await publishing();
      h.api.failNext('patchNamespacedConfigMap', refusal(code));
      await expect(h.reconciler.reconcile(h.jobId)).rejects.toMatchObject({ code });
      expect(h.statusWrites.map((s) => s.code)).toEqual([70]);
      await h.reconcile(h.jobId);
      expect(h.statusOf(h.jobId).code).toBe(StatusCode.JobFinished);
    },
  );
});

describe('Reconciler: observations that fail', () => {
  /** Job 1 with its publish pod done. */
  async function published(planner: PlannerSettings = S) {
    const h = await harness(2, planner);
    const jobId = await h.addJob(1);
    for (const stage of ['configure', 'algorithm'] as const) {
      await h.reconcile(jobId);
      await h.finish(jobId, stage);
    }
    await h.reconcile(jobId);
    h.manifests.set(resultsManifestKey(jobId), serializeResultsManifest(jobId, results(jobId)));
    await h.finish(jobId, 'publish');
    return { ...h, jobId };
  }

  it('a results store that does not answer is asked again, and the job finishes once it does', async () => {
    const h = await published();
    h.outage.error = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9000'), { name: 'Error' });
    expect(await h.reconcile(h.jobId)).toEqual({ requeueAfterMs: near(S.observationRetryIntervalSeconds * 1000) });
    expect(await h.reconcile(h.jobId)).toEqual({ requeueAfterMs: near(S.observationRetryIntervalSeconds * 1000) });
    expect(h.statusOf(h.jobId).code).toBe(StatusCode.PublishingResults);
    h.outage.error = undefined;
    await h.reconcile(h.jobId);
    expect(h.statusOf(h.jobId)).toMatchObject({ code: StatusCode.JobFinished, resultsTotal: 2 });
  });

  it('one that stays down past the bound ends the job 62 instead of holding it', async () => {
    const h = await published({ ...S, observationRetrySeconds: 0 });
    h.outage.error = new Error('503 SlowDown');
    await h.reconcile(h.jobId);
    expect(h.statusOf(h.jobId)).toMatchObject({
      code: StatusCode.ResultsUploadFailed,
      termination: { message: expect.stringContaining('results could not be read: results manifest: 503 SlowDown') },
    });
  });

  it('a stage pod the cache lacks is looked up: one just created is followed, not retried', async () => {
    const h = await harness();
    const jobId = await h.addJob(1);
    h.api.hold();
    await h.reconciler.reconcile(jobId);
    // The informer has seen neither the status nor the pod; the job's status is read from this engine's own write.
    await h.reconciler.reconcile(jobId);
    expect(h.api.calls.filter((c) => c.startsWith('readNamespacedPod'))).toEqual([
      `readNamespacedPod ${jobNames(jobId).pods.configure}`,
    ]);
    expect(h.statusWrites).toHaveLength(1);
    h.api.release();
    await h.api.flush();
  });

  it('a stage pod that cannot be looked up is looked for again; the pass does not fail', async () => {
    const h = await harness();
    const jobId = await h.addJob(1);
    await h.reconcile(jobId);
    h.api.remove('pods', NS, jobNames(jobId).pods.configure);
    await h.api.flush();
    h.api.failNext('readNamespacedPod', new Error('connect ETIMEDOUT'));
    expect(await h.reconcile(jobId)).toEqual({ requeueAfterMs: near(S.observationRetryIntervalSeconds * 1000) });
    expect(h.statusOf(jobId).stages.configure?.retries).toBeUndefined();
    // Answered: the pod vanished, and configure gets its second pod.
    await h.reconcile(jobId);
    expect(h.statusOf(jobId).stages.configure).toMatchObject({ attempts: 2, retries: [{ reason: 'PodVanished' }] });
    expect(h.pod(jobId, 'configure')).toBeDefined();
  });
});

describe('Reconciler: a node lost under the algorithm', () => {
  it('retries the stage under the same name, records it and emits Events, and the job still finishes 70', async () => {
    const h = await harness();
    const jobId = await h.addJob(1);
    await h.reconcile(jobId);
    await h.finish(jobId, 'configure');
    await h.reconcile(jobId);
    const first = h.pod(jobId, 'algorithm')!.metadata!.uid!;
    h.api.setPodStatus(NS, jobNames(jobId).pods.algorithm, {
      phase: 'Failed',
      containerStatuses: [
        {
          name: 'algorithm',
          image: 'i',
          imageID: '',
          ready: false,
          restartCount: 0,
          state: {
            terminated: {
              exitCode: 137,
              reason: 'ContainerStatusUnknown',
              message: 'The container could not be located when the pod was terminated',
            },
          },
        },
      ],
    });
    await h.api.flush();
    await h.reconcile(jobId);
    expect(h.api.calls).toContain(`deleteNamespacedPod ${jobNames(jobId).pods.algorithm}`);
    expect(h.statusOf(jobId).stages.algorithm?.retries).toMatchObject([
      { reason: 'ContainerStatusUnknown', podUid: first },
    ]);
    await h.reconcile(jobId);
    const second = h.pod(jobId, 'algorithm')!.metadata!.uid!;
    expect(second).not.toBe(first);
    expect(h.statusOf(jobId).stages.algorithm?.attempts).toBe(2);

    await h.finish(jobId, 'algorithm');
    await h.reconcile(jobId);
    h.manifests.set(resultsManifestKey(jobId), serializeResultsManifest(jobId, results(jobId)));
    await h.finish(jobId, 'publish');
    await h.reconcile(jobId);
    const final = h.statusOf(jobId);
    expect(final.code).toBe(StatusCode.JobFinished);
    expect(final.stages.algorithm).toMatchObject({ attempts: 2, exitCode: 0 });
    expect(h.api.calls.filter((c) => c.startsWith('createNamespacedEvent'))).toEqual([
      'createNamespacedEvent ConfigureStarted',
      'createNamespacedEvent AlgorithmStarted',
      'createNamespacedEvent StageInfrastructureFailed',
      'createNamespacedEvent StageRetried',
      'createNamespacedEvent PublishStarted',
      'createNamespacedEvent JobFinished',
    ]);
  });
});
