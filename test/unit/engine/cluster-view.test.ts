import type { V1ConfigMap, V1Pod } from '@kubernetes/client-node';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ClusterView } from '../../../engine/cluster-view.ts';
import type { Logger } from '../../../lib/http/log.ts';
import { readJobConfigMap, statusPatch } from '../../../lib/job/configmap.ts';
import { ENVIRONMENTS_CONFIGMAP, environmentsToConfigMapData } from '../../../lib/job/environments.ts';
import { jobLabels, jobNames } from '../../../lib/job/names.ts';
import { StatusCode } from '../../../lib/job/status.ts';
import { FakeKubeApi } from '../../support/fake-kube-api.ts';
import { environment, environmentsConfigMap, jobConfigMap, nthJobId, status } from '../../support/job-fixtures.ts';

const NS = 'c2d-jobs';
const ENV_NS = 'c2d-system';

function podOf(
  n: number,
  stage: 'configure' | 'algorithm' | 'publish',
  name = jobNames(nthJobId(n)).pods[stage],
): V1Pod {
  const labels = jobLabels({ jobId: nthJobId(n), owner: '0x' + 'ab'.repeat(20), environment: 'ocean-compute' }, stage);
  return { metadata: { name, namespace: NS, labels }, spec: { containers: [{ name: 'main', image: 'busybox' }] } };
}

/** A view over a fake API that already holds `jobs`, started, with the jobs it was told about since. */
async function startedView(api: FakeKubeApi, maxConcurrentJobs = 1) {
  api.put('configmaps', environmentsConfigMap(ENV_NS, environment({ maxConcurrentJobs })));
  const told: string[] = [];
  const errors: string[] = [];
  let environmentsChanged = 0;
  const log: Logger = { info: () => undefined, warn: () => undefined, error: (msg) => void errors.push(msg) };
  const view = new ClusterView(
    { core: api, watch: api },
    {
      namespace: NS,
      environmentsNamespace: ENV_NS,
      onJob: (id) => told.push(id),
      onEnvironments: () => void environmentsChanged++,
      log,
    },
  );
  await view.start();
  told.length = 0;
  environmentsChanged = 0;
  return { view, told, errors, environmentsChanged: () => environmentsChanged };
}

const stored = (api: FakeKubeApi, n: number): V1ConfigMap =>
  api.get<V1ConfigMap>('configmaps', NS, jobNames(nthJobId(n)).configMap)!;
const setStatus = (api: FakeKubeApi, n: number, code: StatusCode): void =>
  void api.patch('configmaps', NS, jobNames(nthJobId(n)).configMap, statusPatch(status(code, new Date()), undefined));
const codeOf = (view: ClusterView, n: number): number | undefined => {
  const cm = view.jobs.get(nthJobId(n));
  return cm && readJobConfigMap(cm).status.code;
};

afterEach(() => {
  vi.useRealTimers();
});

describe('ClusterView', () => {
  it('lists the jobs, their objects and the environments before it resolves', async () => {
    const api = new FakeKubeApi();
    api.put('configmaps', jobConfigMap(1, StatusCode.RunningAlgorithm, { namespace: NS }));
    api.put('configmaps', jobConfigMap(2, StatusCode.WarmingUp, { namespace: NS }));
    api.put('configmaps', { metadata: { name: 'unrelated', namespace: NS }, data: {} });
    api.put('pods', podOf(1, 'algorithm'));
    const { view } = await startedView(api, 3);
    expect(view.jobs.jobIds().sort()).toEqual([nthJobId(1), nthJobId(2)]);
    expect(view.jobs.capacity(nthJobId(2), 'ocean-compute')).toEqual({ active: 1, ahead: 0 });
    expect(view.pods.get(jobNames(nthJobId(1)).pods.algorithm, NS)?.spec?.containers[0]?.image).toBe('busybox');
    expect(view.environments().map((e) => e.maxConcurrentJobs)).toEqual([3]);
    expect(api.openWatches).toBe(5);
    await view.stop();
    expect(api.openWatches).toBe(0);
  });

  it('follows job ConfigMaps being added, updated and deleted, telling the job each time', async () => {
    const api = new FakeKubeApi();
    const { view, told } = await startedView(api, 3);
    api.put('configmaps', jobConfigMap(1, StatusCode.WarmingUp, { namespace: NS }));
    await api.flush();
    expect(told).toEqual([nthJobId(1)]);
    expect(codeOf(view, 1)).toBe(StatusCode.WarmingUp);

    setStatus(api, 1, StatusCode.ConfiguringVolumes);
    await api.flush();
    expect(told).toEqual([nthJobId(1), nthJobId(1)]);
    expect(codeOf(view, 1)).toBe(StatusCode.ConfiguringVolumes);
    expect(view.jobs.activeIn('ocean-compute')).toBe(1);

    await api.deleteNamespacedConfigMap({ name: jobNames(nthJobId(1)).configMap, namespace: NS });
    await api.flush();
    expect(told).toEqual([nthJobId(1), nthJobId(1), nthJobId(1)]);
    expect(view.jobs.get(nthJobId(1))).toBeUndefined();
    expect(view.jobs.activeIn('ocean-compute')).toBe(0);
    await view.stop();
  });

  it("tells a job about its pods, volume and Secret, and ignores objects whose name is not the job's", async () => {
    const api = new FakeKubeApi();
    const { view, told } = await startedView(api);
    api.put('pods', podOf(1, 'configure'));
    api.put('pods', podOf(2, 'configure', 'c2d-job-impostor'));
    await api.flush();
    expect(told).toEqual([nthJobId(1)]);
    api.finishPod(NS, jobNames(nthJobId(1)).pods.configure, 0);
    await api.flush();
    expect(told).toEqual([nthJobId(1), nthJobId(1)]);
    expect(view.pods.get(jobNames(nthJobId(1)).pods.configure, NS)?.status?.phase).toBe('Succeeded');
    await view.stop();
  });

  it('when a job ends, also tells the oldest queued job of its environment, and only as many as there are free slots', async () => {
    const api = new FakeKubeApi();
    api.put('configmaps', jobConfigMap(1, StatusCode.RunningAlgorithm, { namespace: NS }));
    for (const n of [4, 2, 3]) api.put('configmaps', jobConfigMap(n, StatusCode.WarmingUp, { namespace: NS }));
    api.put('configmaps', jobConfigMap(5, StatusCode.WarmingUp, { namespace: NS, environment: 'other' }));
    const { view, told } = await startedView(api, 1);

    setStatus(api, 1, StatusCode.PublishingResults);
    await api.flush();
    expect(told).toEqual([nthJobId(1)]);

    setStatus(api, 1, StatusCode.JobFinished);
    await api.flush();
    expect(told).toEqual([nthJobId(1), nthJobId(1), nthJobId(2)]);

    // Job 2 leaves the queue: no room is made (it takes the slot job 1 left).
    told.length = 0;
    setStatus(api, 2, StatusCode.ConfiguringVolumes);
    await api.flush();
    expect(told).toEqual([nthJobId(2)]);
    await view.stop();
  });

  it('follows the environments, keeping the last good list when the ConfigMap turns invalid', async () => {
    const api = new FakeKubeApi();
    const { view, errors, environmentsChanged } = await startedView(api, 1);
    api.patch('configmaps', ENV_NS, ENVIRONMENTS_CONFIGMAP, {
      data: environmentsToConfigMapData([environment({ maxConcurrentJobs: 4 })]),
    });
    await api.flush();
    expect(environmentsChanged()).toBe(1);
    expect(view.environments().map((e) => e.maxConcurrentJobs)).toEqual([4]);
    api.patch('configmaps', ENV_NS, ENVIRONMENTS_CONFIGMAP, { data: { 'environments.json': '[{"id": 1}]' } });
    await api.flush();
    expect(environmentsChanged()).toBe(2);
    expect(view.environments().map((e) => e.maxConcurrentJobs)).toEqual([4]);
    expect(errors).toEqual(['environments ConfigMap is invalid; keeping the previous list']);
    await view.stop();
  });

  it('restarts a failed watch after a backoff and catches up with what changed meanwhile', async () => {
    vi.useFakeTimers();
    const api = new FakeKubeApi();
    api.put('configmaps', jobConfigMap(1, StatusCode.WarmingUp, { namespace: NS }));
    const { view, told } = await startedView(api);
    api.failWatches();
    await api.flush();
    expect(api.openWatches).toBe(0);
    setStatus(api, 1, StatusCode.ConfiguringVolumes);
    api.put('configmaps', jobConfigMap(2, StatusCode.WarmingUp, { namespace: NS }));
    await api.flush();
    expect(told).toEqual([]);

    const listsBefore = api.calls.filter((c) => c.startsWith('list')).length;
    await vi.advanceTimersByTimeAsync(500);
    await api.flush();
    expect(api.openWatches).toBe(5);
    expect(codeOf(view, 1)).toBe(StatusCode.ConfiguringVolumes);
    expect(view.jobs.jobIds().sort()).toEqual([nthJobId(1), nthJobId(2)]);
    expect(told.sort()).toEqual([nthJobId(1), nthJobId(2)]);
    // The watch resumed from the last revision it had seen: nothing was listed again.
    expect(api.calls.filter((c) => c.startsWith('list')).length).toBe(listsBefore);
    await view.stop();
  });

  it('lists again when the history its watch would resume from is gone (410), seeing deletions it missed', async () => {
    vi.useFakeTimers();
    const api = new FakeKubeApi();
    api.put('configmaps', jobConfigMap(1, StatusCode.RunningAlgorithm, { namespace: NS }));
    api.put('configmaps', jobConfigMap(2, StatusCode.WarmingUp, { namespace: NS }));
    const { view, told } = await startedView(api, 1);
    api.failWatches();
    await api.flush();
    await api.deleteNamespacedConfigMap({ name: jobNames(nthJobId(1)).configMap, namespace: NS });
    api.compact();

    await vi.advanceTimersByTimeAsync(500);
    await api.flush();
    expect(view.jobs.get(nthJobId(1))).toBeUndefined();
    expect(stored(api, 2)).toBeDefined();
    // The relist saw job 1 gone: its slot is free, so job 2 is told too.
    expect(told).toContain(nthJobId(1));
    expect(told).toContain(nthJobId(2));
    expect(api.openWatches).toBe(5);
    await view.stop();
  });

  it('re-watches by itself when a watch ends normally, and stops for good when stopped', async () => {
    const api = new FakeKubeApi();
    const { view, told } = await startedView(api);
    api.endWatches();
    api.put('configmaps', jobConfigMap(1, StatusCode.WarmingUp, { namespace: NS }));
    await api.flush();
    expect(api.openWatches).toBe(5);
    expect(told).toEqual([nthJobId(1)]);
    await view.stop();
    api.put('configmaps', jobConfigMap(2, StatusCode.WarmingUp, { namespace: NS }));
    await api.flush();
    expect(told).toEqual([nthJobId(1)]);
    expect(api.openWatches).toBe(0);
  });
});
