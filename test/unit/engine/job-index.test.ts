import type { V1ConfigMap } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { JobIndex, roomMadeIn } from '../../../engine/job-index.ts';
import { buildJobConfigMap, readJobConfigMap, type JobConfigMap } from '../../../lib/job/configmap.ts';
import { StatusCode, isFinal } from '../../../lib/job/status.ts';
import { jobConfigMap, nthJobId, status, workflow } from '../../support/job-fixtures.ts';

const ENV = 'ocean-compute';
let rv = 0;
const cm = (n: number, code: StatusCode, over: { environment?: string; stopRequested?: boolean } = {}): V1ConfigMap =>
  jobConfigMap(n, code, { ...over, resourceVersion: String(++rv) });

function indexOf(...cms: V1ConfigMap[]): JobIndex {
  const index = new JobIndex();
  for (const c of cms) index.observe(c);
  return index;
}

describe('JobIndex: queue position and slots', () => {
  // 1: active (20), 2: active (60), 3: final, 4 and 5: queued, 6: queued but asked to stop,
  // 7: queued, 8: active elsewhere.
  const jobs = (): JobIndex =>
    indexOf(
      cm(1, StatusCode.ConfiguringVolumes),
      cm(2, StatusCode.PublishingResults),
      cm(3, StatusCode.JobFinished),
      cm(4, StatusCode.WarmingUp),
      cm(5, StatusCode.WarmingUp),
      cm(6, StatusCode.WarmingUp, { stopRequested: true }),
      cm(7, StatusCode.WarmingUp),
      cm(8, StatusCode.RunningAlgorithm, { environment: 'other' }),
    );

  it('counts started, unfinished jobs of the same environment as active, the job itself left out', () => {
    const index = jobs();
    expect(index.capacity(nthJobId(4), ENV).active).toBe(2);
    expect(index.capacity(nthJobId(1), ENV).active).toBe(1);
    expect(index.activeIn(ENV)).toBe(2);
    expect(index.activeIn('other')).toBe(1);
  });

  it('orders the queue by creation time, then job id, leaving out jobs asked to stop', () => {
    const index = new JobIndex();
    const a = cm(4, StatusCode.WarmingUp);
    // Job 5 created in the same second as job 4: the job id decides.
    const b = buildJobConfigMap(
      workflow({ jobId: nthJobId(5), dateCreated: readJobConfigMap(a).workflow.dateCreated }),
      status(StatusCode.WarmingUp, new Date()),
    );
    b.metadata!.resourceVersion = String(++rv);
    for (const c of [cm(7, StatusCode.WarmingUp), b, cm(6, StatusCode.WarmingUp, { stopRequested: true }), a])
      index.observe(c);
    expect(index.capacity(nthJobId(4), ENV).ahead).toBe(0);
    expect(index.capacity(nthJobId(5), ENV).ahead).toBe(1);
    expect(index.capacity(nthJobId(7), ENV).ahead).toBe(2);
    expect(index.queueHead(ENV, 10)).toEqual([nthJobId(4), nthJobId(5), nthJobId(7)]);
    expect(index.queueHead(ENV, 2)).toEqual([nthJobId(4), nthJobId(5)]);
    expect(index.queueHead(ENV, -1)).toEqual([]);
  });

  it('compares creation times as dates, not strings', () => {
    const early = buildJobConfigMap(
      workflow({ jobId: nthJobId(1), dateCreated: '2025-01-01T01:00:00+01:00' }),
      status(StatusCode.WarmingUp, new Date()),
    );
    const late = buildJobConfigMap(
      workflow({ jobId: nthJobId(2), dateCreated: '2025-01-01T00:30:00Z' }),
      status(StatusCode.WarmingUp, new Date()),
    );
    const index = indexOf(
      { ...early, metadata: { ...early.metadata, resourceVersion: '1' } },
      { ...late, metadata: { ...late.metadata, resourceVersion: '2' } },
    );
    expect(index.queueHead(ENV, 2)).toEqual([nthJobId(1), nthJobId(2)]);
    expect(index.capacity(nthJobId(2), ENV).ahead).toBe(1);
  });

  it('an unknown job, or one of another environment, sees the whole queue ahead of it', () => {
    const index = indexOf(
      cm(1, StatusCode.ConfiguringVolumes),
      cm(4, StatusCode.WarmingUp),
      cm(7, StatusCode.WarmingUp),
      cm(8, StatusCode.WarmingUp, { environment: 'other' }),
    );
    expect(index.capacity(nthJobId(99), ENV)).toEqual({ active: 1, ahead: 2 });
    expect(index.capacity(nthJobId(8), ENV)).toEqual({ active: 1, ahead: 2 });
    expect(index.capacity(nthJobId(8), 'nowhere')).toEqual({ active: 0, ahead: 0 });
  });

  it('a job asked to stop while queued, or finished, keeps its place for counting what is ahead of it', () => {
    const index = jobs();
    expect(index.capacity(nthJobId(6), ENV)).toEqual({ active: 2, ahead: 2 });
    expect(index.capacity(nthJobId(3), ENV)).toEqual({ active: 2, ahead: 0 });
  });

  it('counts jobs by status, leaving invalid ConfigMaps out', () => {
    const invalid = { ...cm(9, StatusCode.WarmingUp), data: { 'status.json': '{' } };
    const index = indexOf(
      cm(1, StatusCode.ConfiguringVolumes),
      cm(4, StatusCode.WarmingUp),
      cm(7, StatusCode.WarmingUp),
      invalid,
    );
    expect(index.countsByStatus()).toEqual(
      new Map([
        [20, 1],
        [1, 2],
      ]),
    );
    expect(index.get(nthJobId(9))).toBe(invalid);
    expect(index.jobIds().sort()).toEqual([nthJobId(1), nthJobId(4), nthJobId(7), nthJobId(9)]);
    index.observe(cm(4, StatusCode.ConfiguringVolumes));
    index.remove(nthJobId(7));
    expect(index.countsByStatus()).toEqual(new Map([[20, 2]]));
  });
});

describe('JobIndex: the newest copy wins', () => {
  it("keeps the engine's own write over an older copy from the informer, and takes a newer one", () => {
    const index = indexOf(jobConfigMap(1, StatusCode.WarmingUp, { resourceVersion: '10' }));
    expect(index.wrote(jobConfigMap(1, StatusCode.ConfiguringVolumes, { resourceVersion: '12' }))).toBeDefined();
    expect(index.observe(jobConfigMap(1, StatusCode.WarmingUp, { resourceVersion: '10' }))).toBeUndefined();
    expect(index.observe(jobConfigMap(1, StatusCode.ConfiguringVolumes, { resourceVersion: '12' }))).toBeUndefined();
    expect(index.capacity(nthJobId(2), ENV).active).toBe(1);
    index.observe(jobConfigMap(1, StatusCode.JobStopped, { resourceVersion: '13' }));
    expect(index.capacity(nthJobId(2), ENV).active).toBe(0);
    expect(index.wrote(jobConfigMap(1, StatusCode.RunningAlgorithm, { resourceVersion: '11' }))).toBeUndefined();
  });

  it('ignores a write for a job the informer has seen deleted, or not listed yet', () => {
    const index = indexOf(jobConfigMap(1, StatusCode.WarmingUp, { resourceVersion: '10' }));
    index.remove(nthJobId(1));
    expect(index.wrote(jobConfigMap(1, StatusCode.ConfiguringVolumes, { resourceVersion: '12' }))).toBeUndefined();
    expect(index.get(nthJobId(1))).toBeUndefined();
    expect(index.wrote(jobConfigMap(2, StatusCode.ConfiguringVolumes, { resourceVersion: '13' }))).toBeUndefined();
    expect(index.jobIds()).toEqual([]);
  });

  it('ignores ConfigMaps whose name is not a job', () => {
    const index = new JobIndex();
    expect(index.observe({ metadata: { name: 'c2d-environments', resourceVersion: '1' } })).toBeUndefined();
    expect(index.jobIds()).toEqual([]);
  });
});

describe('roomMadeIn', () => {
  const change = (
    before: StatusCode | 'gone' | 'new',
    after: StatusCode | 'gone',
    over: { stopAfter?: boolean; envAfter?: string } = {},
  ) => {
    const index = new JobIndex();
    if (before !== 'new' && before !== 'gone') index.observe(jobConfigMap(1, before, { resourceVersion: '1' }));
    if (after === 'gone') return index.remove(nthJobId(1));
    return index.observe(
      jobConfigMap(1, after, { resourceVersion: '2', stopRequested: over.stopAfter, environment: over.envAfter }),
    );
  };

  it.each([
    ['a job that ends', StatusCode.PublishingResults, StatusCode.JobFinished, {}, ENV],
    ['a queued job that ends', StatusCode.WarmingUp, StatusCode.DataProvisioningFailed, {}, ENV],
    ['a queued job asked to stop', StatusCode.WarmingUp, StatusCode.WarmingUp, { stopAfter: true }, ENV],
    ['a running job deleted', StatusCode.RunningAlgorithm, 'gone', {}, ENV],
    ['a queued job deleted', StatusCode.WarmingUp, 'gone', {}, ENV],
    ['a queued job that starts', StatusCode.WarmingUp, StatusCode.ConfiguringVolumes, {}, undefined],
    ['a running job that moves on', StatusCode.RunningAlgorithm, StatusCode.PublishingResults, {}, undefined],
    [
      'a running job asked to stop',
      StatusCode.RunningAlgorithm,
      StatusCode.RunningAlgorithm,
      { stopAfter: true },
      undefined,
    ],
    ['a final job deleted', StatusCode.JobFinished, 'gone', {}, undefined],
    ['a new queued job', 'new', StatusCode.WarmingUp, {}, undefined],
  ] as const)('%s', (_what, before, after, over, room) => {
    expect(roomMadeIn(change(before, after, over))).toBe(room);
  });
});

describe('JobIndex against a walk over every job', () => {
  /** What the engine computed before the index: every job looked at for each question. */
  function walk(cms: Map<string, JobConfigMap>, jobId: string, environment: string): { active: number; ahead: number } {
    const jobs = [...cms.values()];
    const self = jobs.find((j) => j.workflow.jobId === jobId && j.workflow.environment === environment);
    const key = (j: (typeof jobs)[number]): [number, string] => [Date.parse(j.workflow.dateCreated), j.workflow.jobId];
    const isBefore = (a: [number, string], b: [number, string]): boolean =>
      a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
    let active = 0;
    let ahead = 0;
    for (const j of jobs) {
      if (j.workflow.environment !== environment || j.workflow.jobId === jobId || isFinal(j.status.code)) continue;
      if (j.status.code !== StatusCode.WarmingUp) active += 1;
      else if (!j.stopRequestedAt && (!self || isBefore(key(j), key(self)))) ahead += 1;
    }
    return { active, ahead };
  }

  it('answers as the walk does through 2,000 random changes to 60 jobs in 2 environments', () => {
    let seed = 7;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const codes = [
      StatusCode.WarmingUp,
      StatusCode.WarmingUp,
      StatusCode.ConfiguringVolumes,
      StatusCode.RunningAlgorithm,
      StatusCode.PublishingResults,
      StatusCode.JobFinished,
      StatusCode.JobStopped,
    ];
    const envs = ['ocean-compute', 'other'];
    const index = new JobIndex();
    const cms = new Map<string, JobConfigMap>();
    let revision = 0;
    for (let step = 0; step < 2000; step++) {
      const n = random(60);
      const jobId = nthJobId(n);
      if (cms.has(jobId) && random(10) === 0) {
        cms.delete(jobId);
        index.remove(jobId);
      } else {
        // A job keeps its environment and creation time; only its status and stop mark change.
        const c = jobConfigMap(n, codes[random(codes.length)]!, {
          environment: envs[n % 2],
          stopRequested: random(5) === 0,
          resourceVersion: String(++revision),
        });
        cms.set(jobId, readJobConfigMap(c));
        if (random(2) === 0) index.observe(c);
        else if (!index.wrote(c)) index.observe(c);
      }
      const probe = nthJobId(random(62));
      for (const env of envs)
        expect(index.capacity(probe, env), `step ${step}, job ${probe}, ${env}`).toEqual(walk(cms, probe, env));
    }
  });
});
