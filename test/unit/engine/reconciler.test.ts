import { ApiException, type CoreV1Api, type V1ConfigMap, type V1Pod } from '@kubernetes/client-node';
import type { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import type { ClusterView } from '../../../engine/cluster-view.ts';
import { EngineMetrics } from '../../../engine/metrics.ts';
import { DEFAULT_PLANNER_SETTINGS } from '../../../engine/planner.ts';
import { DEFAULT_POD_SPEC_SETTINGS } from '../../../engine/pod-specs.ts';
import { Reconciler } from '../../../engine/reconciler.ts';
import type { Logger } from '../../../lib/http/log.ts';
import { STATUS_KEY, STOP_ANNOTATION, buildJobConfigMap } from '../../../lib/job/configmap.ts';
import { jobNames } from '../../../lib/job/names.ts';
import { serializeResultsManifest } from '../../../lib/job/results-manifest.ts';
import { StatusCode, parseStatusJson, type JobStatus, type Result } from '../../../lib/job/status.ts';
import { JOB_ID, environment, status, workflow } from '../../support/job-fixtures.ts';

const NS = 'jobs';
const names = jobNames(JOB_ID);
const RESULTS: Result[] = [
  { index: 0, filename: 'out.txt', filesize: 1, type: 'output', key: `${JOB_ID}/outputs/out.txt` },
  { index: 1, filename: 'publish.log', filesize: 1, type: 'publishLog', key: `${JOB_ID}/logs/publish.log` },
];

/** A job at 60 whose publish pod has succeeded, its manifest stored. */
function publishedJob(): { cm: V1ConfigMap; pods: Map<string, V1Pod> } {
  const at = new Date(Date.now() - 1000);
  const st: JobStatus = status(StatusCode.PublishingResults, at, {
    dateStarted: at.toISOString(),
    stages: { configure: { startedAt: at.toISOString(), finishedAt: at.toISOString() }, algorithm: { startedAt: at.toISOString(), finishedAt: at.toISOString() }, publish: { startedAt: at.toISOString() } },
  });
  const cm = buildJobConfigMap(workflow(), st, NS);
  cm.metadata = { ...cm.metadata, uid: 'uid-1', resourceVersion: '7' };
  const succeeded: V1Pod = { metadata: { name: names.pods.publish }, status: { phase: 'Succeeded' } };
  return { cm, pods: new Map([[names.pods.publish, succeeded]]) };
}

const store = (manifest: string | null): S3Client =>
  ({
    send: async (cmd: { input: { Key: string } }) => {
      if (manifest === null || cmd.input.Key !== `${JOB_ID}/manifest.json`) throw Object.assign(new Error('no such key'), { name: 'NoSuchKey' });
      return { ContentLength: manifest.length, Body: { transformToString: async () => manifest } };
    },
  }) as unknown as S3Client;

const refusal = (code: number): ApiException<unknown> =>
  new ApiException(code, 'refused', JSON.stringify({ kind: 'Status', code, message: 'ConfigMap "c2d-job-x" is invalid: []: Too long' }), {});

/** A reconciler over fakes; `patches` answers each status write in turn (an error is thrown). */
function reconcilerFor(
  patches: Array<ApiException<unknown> | Error | 'ok'>,
  manifest: string | null = serializeResultsManifest(JOB_ID, RESULTS),
  others: V1ConfigMap[] = [],
  wake: (jobId: string) => void = () => undefined,
) {
  const { cm, pods } = publishedJob();
  const configMaps = new Map([cm, ...others].map((c) => [c.metadata!.name!, c]));
  const written: JobStatus[] = [];
  const errors: string[] = [];
  const core = {
    patchNamespacedConfigMap: async ({ body }: { body: { data: Record<string, string> } }) => {
      written.push(parseStatusJson(body.data[STATUS_KEY]!));
      const answer = patches.shift() ?? 'ok';
      if (answer !== 'ok') throw answer;
      return { ...cm, metadata: { ...cm.metadata, resourceVersion: String(8 + written.length) }, data: { ...cm.data, ...body.data } };
    },
    readNamespacedPodLog: async () => {
      throw new Error('the pod log is gone');
    },
    deleteNamespacedPod: async () => ({}),
    deleteNamespacedSecret: async () => ({}),
    createNamespacedEvent: async () => ({}),
  } as unknown as CoreV1Api;
  const view = {
    configMaps: { get: (name: string) => configMaps.get(name), list: () => [...configMaps.values()] },
    pods: { get: (name: string) => pods.get(name) },
    pvcs: { get: () => ({}) },
    secrets: { get: () => undefined },
    environments: () => [environment()],
  } as unknown as ClusterView;
  const log: Logger = { info: () => undefined, warn: () => undefined, error: (msg) => void errors.push(msg) };
  const reconciler = new Reconciler({
    core,
    view,
    namespace: NS,
    planner: DEFAULT_PLANNER_SETTINGS,
    pods: DEFAULT_POD_SPEC_SETTINGS,
    store: { client: store(manifest), bucket: 'b' },
    metrics: new EngineMetrics(),
    log,
    identity: 'test',
    wake,
  });
  return { reconciler, written, errors };
}

describe('Reconciler: results and status writes', () => {
  it('takes the results from the stored manifest; a lost publish pod log does not matter', async () => {
    const { reconciler, written } = reconcilerFor(['ok']);
    await reconciler.reconcile(JOB_ID);
    expect(written.map((s) => s.code)).toEqual([70]);
    expect(written[0]!.results).toEqual(RESULTS);
    expect(written[0]!.resultsTotal).toBe(2);
  });

  it('no manifest → 62', async () => {
    const { reconciler, written } = reconcilerFor(['ok'], null);
    await reconciler.reconcile(JOB_ID);
    expect(written.map((s) => s.code)).toEqual([62]);
    expect(written[0]!.termination?.message).toContain('no results manifest in the store');
  });

  it.each([400, 403, 413, 422])('a status refused with %i ends the job with a failure instead', async (code) => {
    const { reconciler, written, errors } = reconcilerFor([refusal(code), 'ok']);
    await reconciler.reconcile(JOB_ID);
    expect(written.map((s) => s.code)).toEqual([70, 62]);
    expect(written[1]!.termination).toMatchObject({ reason: 'resultsUploadFailed', stage: 'publish' });
    expect(written[1]!.termination?.message).toBe(`the job's status could not be recorded: ${code}: ConfigMap "c2d-job-x" is invalid: []: Too long`);
    expect(written[1]!.results).toEqual([]);
    expect(errors).toEqual(['the API server refused the job\'s status; ending the job']);
  });

  it('when even the failure status is refused it gives up without an error to retry', async () => {
    const { reconciler, written, errors } = reconcilerFor([refusal(422), refusal(422)]);
    await expect(reconciler.reconcile(JOB_ID)).resolves.toBeUndefined();
    expect(written.map((s) => s.code)).toEqual([70, 62]);
    expect(errors).toHaveLength(2);
  });

  it.each([429, 500, 503])('a %i is transient: the reconcile fails, to be retried', async (code) => {
    const { reconciler, written } = reconcilerFor([refusal(code)]);
    await expect(reconciler.reconcile(JOB_ID)).rejects.toMatchObject({ code });
    expect(written.map((s) => s.code)).toEqual([70]);
  });
});

describe('Reconciler: the queue', () => {
  const queuedJob = (i: number, over: { stop?: boolean } = {}): V1ConfigMap => {
    const jobId = i.toString(16).padStart(32, 'a');
    const cm = buildJobConfigMap(workflow({ jobId, dateCreated: new Date(Date.UTC(2025, 0, 1, 0, 0, i)).toISOString() }), status(StatusCode.WarmingUp, new Date()), NS);
    if (over.stop) cm.metadata!.annotations = { ...cm.metadata!.annotations, [STOP_ANNOTATION]: new Date().toISOString() };
    cm.metadata = { ...cm.metadata, resourceVersion: String(100 + i) };
    return cm;
  };

  it('wakes only as many queued jobs as there are free slots, oldest first, when a job ends', async () => {
    // The environment runs 2 jobs at once; one other job is running, so the ending one frees exactly one slot.
    const running = buildJobConfigMap(workflow({ jobId: 'b'.repeat(32) }), status(StatusCode.RunningAlgorithm, new Date()), NS);
    running.metadata = { ...running.metadata, resourceVersion: '50' };
    const queued = Array.from({ length: 200 }, (_, i) => queuedJob(200 - i));
    const stopped = queuedJob(0, { stop: true });
    const woken: string[] = [];
    const { reconciler, written } = reconcilerFor(['ok'], undefined, [running, stopped, ...queued], (id) => woken.push(id));
    await reconciler.reconcile(JOB_ID);
    expect(written.map((s) => s.code)).toEqual([70]);
    expect(woken).toEqual([(1).toString(16).padStart(32, 'a')]);
  });
});
