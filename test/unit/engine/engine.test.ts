import type { V1ConfigMap } from '@kubernetes/client-node';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Engine } from '../../../engine/engine.ts';
import { DEFAULT_PLANNER_SETTINGS } from '../../../engine/planner.ts';
import { DEFAULT_POD_SPEC_SETTINGS } from '../../../engine/pod-specs.ts';
import { WorkQueue } from '../../../engine/work-queue.ts';
import { readJobConfigMap } from '../../../lib/job/configmap.ts';
import { jobNames } from '../../../lib/job/names.ts';
import { buildJobSecret } from '../../../lib/job/secret.ts';
import { StatusCode } from '../../../lib/job/status.ts';
import { FakeKubeApi } from '../../support/fake-kube-api.ts';
import { environment, environmentsConfigMap, jobConfigMap, secretData } from '../../support/job-fixtures.ts';
import { silentLogger } from '../../support/silent-logger.ts';

const NS = 'c2d-jobs';
const RESYNC_MS = 60_000;

let engine: Engine | undefined;
afterEach(async () => {
  await engine?.stop();
  engine = undefined;
  vi.restoreAllMocks();
  vi.useRealTimers();
});

describe('Engine', () => {
  it('reconciles a job whose event was missed at the next resync, and not before', async () => {
    // Only the resync's interval runs on the test's clock; watch deliveries and the queue keep real time.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const api = new FakeKubeApi();
    api.put('configmaps', environmentsConfigMap(NS, environment()));
    const job = readJobConfigMap(api.put('configmaps', jobConfigMap(1, StatusCode.WarmingUp, { namespace: NS })));
    api.put('secrets', buildJobSecret(job.workflow, secretData(), job, NS));
    const jobId = job.workflow.jobId;
    engine = new Engine({
      api,
      watch: api,
      namespace: NS,
      environmentsNamespace: NS,
      planner: DEFAULT_PLANNER_SETTINGS,
      pods: DEFAULT_POD_SPEC_SETTINGS,
      store: { client: {} as S3Client, bucket: 'results' },
      concurrency: 4,
      resyncPeriodMs: RESYNC_MS,
      identity: 'test',
      log: silentLogger,
    });
    const settle = async (): Promise<void> => {
      for (let i = 0; i < 5; i++) {
        await api.flush();
        await engine!.idle();
      }
    };
    const code = (): number =>
      readJobConfigMap(api.get<V1ConfigMap>('configmaps', NS, jobNames(jobId).configMap)!).status.code;

    await engine.start();
    await settle();
    expect(code()).toBe(StatusCode.ConfiguringVolumes);

    // The configure pod finishes, and the event that would wake the job is lost on its way to the queue.
    const enqueue = WorkQueue.prototype.enqueue;
    let dropped = 0;
    vi.spyOn(WorkQueue.prototype, 'enqueue').mockImplementation(function (this: WorkQueue, key: string) {
      if (key === jobId) dropped += 1;
      else enqueue.call(this, key);
    });
    api.finishPod(NS, jobNames(jobId).pods.configure, 0);
    await settle();
    expect(dropped).toBeGreaterThan(0);
    vi.advanceTimersByTime(RESYNC_MS - 1);
    await settle();
    expect(code()).toBe(StatusCode.ConfiguringVolumes);

    vi.mocked(WorkQueue.prototype.enqueue).mockRestore();
    vi.advanceTimersByTime(1);
    await settle();
    expect(code()).toBeGreaterThan(StatusCode.ConfiguringVolumes);
  });
});
