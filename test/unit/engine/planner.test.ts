import { describe, expect, it } from 'vitest';
import {
  DEFAULT_PLANNER_SETTINGS,
  SETTLEMENT_HOLD_SECONDS,
  needsPublishResults,
  plan,
  planStatusRefused,
  stageOfCode,
  type Action,
  type Observed,
  type ObservedPod,
  type PodPhase,
} from '../../../engine/planner.ts';
import { STAGES, type Stage } from '../../../lib/job/names.ts';
import {
  FINAL_CODES,
  StatusCode,
  isFinal,
  jobStatusSchema,
  type JobStatus,
  type Result,
} from '../../../lib/job/status.ts';
import { CREATED, JOB_ID, environment, status, workflow } from '../../support/job-fixtures.ts';

const NOW = new Date('2025-01-01T00:10:00.000Z');
const STARTED = new Date(NOW.getTime() - 5_000).toISOString();
const S = DEFAULT_PLANNER_SETTINGS;

/** A status at `code` whose stage records look like the planner would have left them. */
function statusAt(code: StatusCode, overrides: Partial<JobStatus> = {}): JobStatus {
  const stages: JobStatus['stages'] = {};
  const phase = isFinal(code) ? 'final' : stageOfCode(code);
  if (phase === 'configure' && code !== StatusCode.JobStarted) stages.configure = { startedAt: STARTED };
  if (phase === 'algorithm' || phase === 'publish' || phase === 'final')
    stages.configure = { startedAt: CREATED, finishedAt: CREATED, exitCode: 0 };
  if (phase === 'algorithm') stages.algorithm = { startedAt: STARTED };
  if (phase === 'publish' || phase === 'final')
    stages.algorithm = { startedAt: CREATED, finishedAt: CREATED, exitCode: 0 };
  if (phase === 'publish') stages.publish = { startedAt: STARTED };
  const base = status(code, new Date(STARTED), { stages });
  if (phase !== 'queued') base.dateStarted = CREATED;
  if (phase === 'final') {
    base.dateFinished = STARTED;
    base.expiresAt = new Date(NOW.getTime() + 60_000).toISOString();
    base.termination = { reason: 'finished' };
  }
  return { ...base, ...overrides };
}

function observe(overrides: Partial<Observed> = {}): Observed {
  return {
    workflow: workflow(),
    status: statusAt(StatusCode.WarmingUp),
    stopRequested: false,
    pods: {},
    pvcExists: true,
    secretExists: true,
    now: NOW,
    environment: environment(),
    capacity: { active: 0, ahead: 0 },
    settings: S,
    ...overrides,
  };
}

function pod(phase: PodPhase, extra: Partial<ObservedPod> = {}): ObservedPod {
  return { phase, deleting: false, ...extra };
}

const recorded = (actions: Action[]): JobStatus | undefined => {
  const r = actions.filter((a) => a.kind === 'recordStatus');
  expect(r.length).toBeLessThanOrEqual(1);
  return r[0]?.kind === 'recordStatus' ? r[0].status : undefined;
};
const kinds = (actions: Action[]): string[] =>
  actions.map((a) => (a.kind === 'createPod' || a.kind === 'deletePod' ? `${a.kind}:${a.stage}` : a.kind));
const RESULTS: Result[] = [
  { index: 0, filename: 'configure.log', filesize: 10, type: 'configurationLog', key: `${JOB_ID}/logs/configure.log` },
  { index: 1, filename: 'out.txt', filesize: 3, type: 'output', key: `${JOB_ID}/outputs/out.txt` },
];

describe('queued (1)', () => {
  it('starts the job when there is capacity: volume, configure pod, status 20 with 10 in the history', () => {
    const actions = plan(observe({ pvcExists: false }));
    expect(kinds(actions)).toEqual(['createPvc', 'createPod:configure', 'recordStatus']);
    const s = recorded(actions)!;
    expect(s.code).toBe(20);
    expect(s.text).toBe('Configuring volumes');
    expect(s.history.map((h) => h.code)).toEqual([1, 10, 20]);
    expect(s.dateStarted).toBe(NOW.toISOString());
    expect(s.stages.configure).toEqual({ startedAt: NOW.toISOString() });
  });

  it('does not create a volume that exists', () => {
    expect(kinds(plan(observe()))).toEqual(['createPod:configure', 'recordStatus']);
  });

  it('waits in the queue when the environment is full', () => {
    expect(plan(observe({ capacity: { active: 2, ahead: 0 } }))).toEqual([{ kind: 'wait', reason: 'queued' }]);
  });

  it('waits behind earlier queued jobs even when slots are free', () => {
    expect(plan(observe({ capacity: { active: 1, ahead: 1 } }))).toEqual([{ kind: 'wait', reason: 'queued' }]);
    expect(kinds(plan(observe({ capacity: { active: 0, ahead: 1 } })))).toContain('createPod:configure');
  });

  it('waits for an environment that is not (yet) configured', () => {
    expect(plan(observe({ environment: undefined }))).toEqual([{ kind: 'wait', reason: 'environmentUnknown' }]);
  });

  it('waits for its Secret, then gives up with 31', () => {
    const until = new Date(Date.parse(CREATED) + S.secretWaitSeconds * 1000);
    expect(plan(observe({ secretExists: false, now: new Date(until.getTime() - 1) }))).toEqual([
      { kind: 'wait', reason: 'secretPending', until },
    ]);
    const s = recorded(plan(observe({ secretExists: false, now: until })))!;
    expect(s.code).toBe(31);
    expect(s.termination?.reason).toBe('dataProvisioningFailed');
  });
});

describe('resuming after an interrupted pass (10 and 30 left standing)', () => {
  it('10 without a pod creates it and records 20', () => {
    const actions = plan(observe({ status: statusAt(StatusCode.JobStarted) }));
    expect(kinds(actions)).toEqual(['createPod:configure', 'recordStatus']);
    expect(recorded(actions)!.code).toBe(20);
  });

  it('10 with a running pod only records 20', () => {
    expect(
      kinds(plan(observe({ status: statusAt(StatusCode.JobStarted), pods: { configure: pod('Running') } }))),
    ).toEqual(['recordStatus']);
  });

  it('10 with a finished configure pod moves on to the algorithm', () => {
    const actions = plan(
      observe({ status: statusAt(StatusCode.JobStarted), pods: { configure: pod('Succeeded', { exitCode: 0 }) } }),
    );
    expect(kinds(actions)).toEqual(['createPod:algorithm', 'recordStatus']);
    expect(recorded(actions)!.code).toBe(40);
  });

  it('30 with the configure pod succeeded moves on to the algorithm', () => {
    const actions = plan(
      observe({
        status: statusAt(StatusCode.ProvisioningSuccess),
        pods: { configure: pod('Succeeded', { exitCode: 0 }) },
      }),
    );
    expect(recorded(actions)!.code).toBe(40);
  });
});

describe('configuring (20)', () => {
  const at20 = (pods: Observed['pods'], extra: Partial<Observed> = {}): Action[] =>
    plan(observe({ status: statusAt(StatusCode.ConfiguringVolumes), pods, ...extra }));
  const deadline = new Date(Date.parse(STARTED) + (S.configureDeadlineSeconds + S.deadlineGraceSeconds) * 1000);

  it('a configure pod that vanished is created again (and the volume), as attempt 2', () => {
    const actions = at20({}, { pvcExists: false });
    expect(actions.slice(0, 2)).toEqual([
      { kind: 'createPvc' },
      { kind: 'createPod', stage: 'configure', retry: true },
    ]);
    expect(recorded(actions)!.stages.configure).toEqual({
      startedAt: STARTED,
      attempts: 2,
      retries: [{ at: NOW.toISOString(), reason: 'PodVanished', message: 'the pod disappeared' }],
    });
  });

  it.each(['Pending', 'Running', 'Unknown'] as const)('waits while the pod is %s', (phase) => {
    expect(at20({ configure: pod(phase) })).toEqual([{ kind: 'wait', reason: 'podRunning', until: deadline }]);
  });

  it('a running pod someone else deletes is an infrastructure failure: recorded, retried once it is gone', () => {
    const s = recorded(at20({ configure: pod('Running', { deleting: true, uid: 'u1' }) }))!;
    expect(s.code).toBe(20);
    expect(s.stages.configure?.retries).toEqual([
      { at: NOW.toISOString(), reason: 'PodDeleted', message: 'the pod was deleted', podUid: 'u1' },
    ]);
    expect(at20({ configure: pod('Running', { deleting: true, uid: 'u1' }) }, { status: s })).toEqual([
      { kind: 'wait', reason: 'podDeleting' },
    ]);
  });

  it('success: algorithm pod, status 40 with 30 in the history, configure stage closed', () => {
    const actions = at20({ configure: pod('Succeeded', { exitCode: 0 }) });
    expect(kinds(actions)).toEqual(['createPod:algorithm', 'recordStatus']);
    const s = recorded(actions)!;
    expect(s.code).toBe(40);
    expect(s.history.slice(-2).map((h) => h.code)).toEqual([30, 40]);
    expect(s.stages.configure).toEqual({ startedAt: STARTED, finishedAt: NOW.toISOString(), exitCode: 0 });
    expect(s.stages.algorithm).toEqual({ startedAt: NOW.toISOString() });
  });

  it('does not create an algorithm pod that already exists', () => {
    expect(kinds(at20({ configure: pod('Succeeded'), algorithm: pod('Running') }))).toEqual(['recordStatus']);
  });

  it.each([
    [31, 'dataProvisioningFailed'],
    [32, 'algorithmProvisioningFailed'],
    [1, 'dataProvisioningFailed'],
    [137, 'dataProvisioningFailed'],
  ] as const)('exit code %i → publish the logs, then end as %s', (exitCode, reason) => {
    const actions = at20({ configure: pod('Failed', { exitCode, reason: 'Error' }) });
    expect(kinds(actions)).toEqual(['createPod:publish', 'recordStatus']);
    const s = recorded(actions)!;
    expect(s.code).toBe(60);
    expect(s.outcome).toMatchObject({ reason, stage: 'configure', exitCode });
    expect(s.stages.configure).toMatchObject({ exitCode, reason: 'Error', finishedAt: NOW.toISOString() });
    expect(s.stages.publish).toEqual({ startedAt: NOW.toISOString() });
  });

  it('an unexpected exit code is reported in the outcome message', () => {
    const s = recorded(at20({ configure: pod('Failed', { exitCode: 1, reason: 'Error' }) }))!;
    expect(s.outcome?.message).toContain('exit code 1');
  });

  it('kubelet deadline → timed out in configure', () => {
    const s = recorded(at20({ configure: pod('Failed', { reason: 'DeadlineExceeded' }) }))!;
    expect(s.outcome).toMatchObject({ reason: 'timedOut', stage: 'configure' });
  });

  it('own deadline: deletes the running pod and publishes with timed out', () => {
    const actions = at20({ configure: pod('Running') }, { now: deadline });
    expect(kinds(actions)).toEqual(['deletePod:configure', 'createPod:publish', 'recordStatus']);
    expect(recorded(actions)!.outcome).toMatchObject({ reason: 'timedOut', stage: 'configure' });
    expect(recorded(actions)!.stages.configure?.reason).toBe('DeadlineExceeded');
  });

  it('one millisecond before the deadline it still waits', () => {
    expect(at20({ configure: pod('Running') }, { now: new Date(deadline.getTime() - 1) })).toEqual([
      { kind: 'wait', reason: 'podRunning', until: deadline },
    ]);
  });

  it('deadline passed with no pod at all → timed out without creating one', () => {
    expect(kinds(at20({}, { now: deadline }))).toEqual(['createPod:publish', 'recordStatus']);
  });

  it('a pod that can never start ends provisioning', () => {
    const actions = at20({ configure: pod('Pending', { waitingReason: 'CreateContainerConfigError' }) });
    expect(kinds(actions)).toEqual(['deletePod:configure', 'createPod:publish', 'recordStatus']);
    expect(recorded(actions)!.outcome?.reason).toBe('dataProvisioningFailed');
  });

  it("the project's own image refused by the node → the infrastructure failed, not the data", () => {
    const actions = at20({ configure: pod('Pending', { waitingReason: 'InvalidImageName' }) });
    expect(kinds(actions)).toEqual(['deletePod:configure', 'createPod:publish', 'recordStatus']);
    expect(recorded(actions)!.outcome).toMatchObject({ reason: 'infrastructureFailed', stage: 'configure' });
  });

  it('a transient image pull problem is waited out', () => {
    expect(at20({ configure: pod('Pending', { waitingReason: 'ImagePullBackOff' }) })[0]?.kind).toBe('wait');
  });
});

describe('running the algorithm (40)', () => {
  const at40 = (pods: Observed['pods'], extra: Partial<Observed> = {}): Action[] =>
    plan(
      observe({
        status: statusAt(StatusCode.RunningAlgorithm),
        pods: { configure: pod('Succeeded'), ...pods },
        secretExists: false,
        ...extra,
      }),
    );
  const deadline = new Date(Date.parse(STARTED) + (60 + S.deadlineGraceSeconds) * 1000);

  it('deletes the Secret once configure is done', () => {
    expect(at40({ algorithm: pod('Running') }, { secretExists: true })[0]).toEqual({ kind: 'deleteSecret' });
  });

  it('an algorithm pod that vanished is created again, as attempt 2', () => {
    const actions = at40({});
    expect(actions[0]).toEqual({ kind: 'createPod', stage: 'algorithm', retry: true });
    expect(recorded(actions)!.stages.algorithm).toMatchObject({ attempts: 2, retries: [{ reason: 'PodVanished' }] });
  });

  it.each(['Pending', 'Running', 'Unknown'] as const)('waits while the pod is %s, until the max duration', (phase) => {
    expect(at40({ algorithm: pod(phase) })).toEqual([{ kind: 'wait', reason: 'podRunning', until: deadline }]);
  });

  it('a pod deleted under the algorithm is an infrastructure failure, whatever exit code the kill left', () => {
    const s = recorded(at40({ algorithm: pod('Failed', { deleting: true, exitCode: 137, uid: 'u1' }) }))!;
    expect(s.code).toBe(40);
    expect(s.stages.algorithm?.retries).toMatchObject([{ reason: 'PodDeleted', podUid: 'u1' }]);
  });

  it('exit 0 → publish with no outcome', () => {
    const actions = at40({ algorithm: pod('Succeeded', { exitCode: 0 }) });
    expect(kinds(actions)).toEqual(['createPod:publish', 'recordStatus']);
    const s = recorded(actions)!;
    expect(s.code).toBe(60);
    expect(s.outcome).toBeUndefined();
    expect(s.stages.algorithm).toEqual({ startedAt: STARTED, finishedAt: NOW.toISOString(), exitCode: 0 });
  });

  it('non-zero exit → publish, outcome algorithm failed with the exit code', () => {
    const s = recorded(at40({ algorithm: pod('Failed', { exitCode: 3, reason: 'Error' }) }))!;
    expect(s.code).toBe(60);
    expect(s.outcome).toMatchObject({ reason: 'algorithmFailed', stage: 'algorithm', exitCode: 3 });
  });

  it('OOMKilled is an algorithm failure that says so', () => {
    const s = recorded(at40({ algorithm: pod('Failed', { exitCode: 137, reason: 'OOMKilled' }) }))!;
    expect(s.outcome?.message).toContain('OOMKilled');
  });

  it.each([
    'Pod ephemeral local storage usage exceeds the total limit of containers 1Gi. ',
    'Container algorithm exceeded its local ephemeral storage limit "1Gi". ',
    // What the real node's kubelet said for an algorithm writing past its /tmp (test/real-node/).
    'Usage of EmptyDir volume "tmp" exceeds the limit "64Mi". ',
  ])('evicted for its own storage ("%s") → disk quota exceeded', (message) => {
    expect(
      recorded(at40({ algorithm: pod('Failed', { exitCode: 137, reason: 'Evicted', message }) }))!.outcome?.reason,
    ).toBe('diskQuotaExceeded');
  });

  it('evicted for node pressure → the infrastructure, retried', () => {
    const s = recorded(
      at40({ algorithm: pod('Failed', { reason: 'Evicted', message: 'The node was low on resource: memory.' }) }),
    )!;
    expect(s.code).toBe(40);
    expect(s.stages.algorithm?.retries).toMatchObject([{ reason: 'Evicted' }]);
  });

  it('kubelet deadline (activeDeadlineSeconds) → timed out, still publishes', () => {
    const actions = at40({ algorithm: pod('Failed', { reason: 'DeadlineExceeded' }) });
    expect(kinds(actions)).toEqual(['createPod:publish', 'recordStatus']);
    expect(recorded(actions)!.outcome).toMatchObject({ reason: 'timedOut', stage: 'algorithm' });
  });

  it('own deadline → deletes the pod, publishes, outcome timed out', () => {
    const actions = at40({ algorithm: pod('Running') }, { now: deadline });
    expect(kinds(actions)).toEqual(['deletePod:algorithm', 'createPod:publish', 'recordStatus']);
    expect(recorded(actions)!.outcome).toMatchObject({ reason: 'timedOut', stage: 'algorithm' });
  });

  it('deadline with a pending pod (image never pulled) → the infrastructure failed, not the algorithm', () => {
    const actions = at40({ algorithm: pod('Pending', { waitingReason: 'ImagePullBackOff' }) }, { now: deadline });
    expect(kinds(actions)).toEqual(['deletePod:algorithm', 'createPod:publish', 'recordStatus']);
    expect(recorded(actions)!.outcome).toMatchObject({ reason: 'infrastructureFailed', stage: 'algorithm' });
  });

  it('a container that can never start → algorithm failed', () => {
    const actions = at40({
      algorithm: pod('Pending', { waitingReason: 'CreateContainerError', message: 'no such executable' }),
    });
    expect(kinds(actions)).toEqual(['deletePod:algorithm', 'createPod:publish', 'recordStatus']);
    expect(recorded(actions)!.outcome?.message).toContain('CreateContainerError');
  });
});

describe('publishing (60)', () => {
  const at60 = (pods: Observed['pods'], extra: Partial<Observed> = {}, st: Partial<JobStatus> = {}): Action[] =>
    plan(
      observe({
        status: statusAt(StatusCode.PublishingResults, st),
        pods: { configure: pod('Succeeded'), algorithm: pod('Succeeded'), ...pods },
        secretExists: false,
        ...extra,
      }),
    );
  const deadline = new Date(Date.parse(STARTED) + (S.publishDeadlineSeconds + S.deadlineGraceSeconds) * 1000);

  it('a publish pod that vanished is created again, as attempt 2', () => {
    const actions = at60({});
    expect(actions[0]).toEqual({ kind: 'createPod', stage: 'publish', retry: true });
    expect(recorded(actions)!.stages.publish).toMatchObject({ attempts: 2, retries: [{ reason: 'PodVanished' }] });
  });

  it.each(['Pending', 'Running', 'Unknown'] as const)('waits while the pod is %s', (phase) => {
    expect(at60({ publish: pod(phase) })).toEqual([{ kind: 'wait', reason: 'podRunning', until: deadline }]);
  });

  it('success with results → 70, results recorded, expiry set from the environment', () => {
    const actions = at60({ publish: pod('Succeeded', { exitCode: 0 }) }, { publishResults: RESULTS });
    const s = recorded(actions)!;
    expect(s.code).toBe(70);
    expect(s.text).toBe('Job finished');
    expect(s.results).toEqual(RESULTS);
    expect(s.termination).toEqual({ reason: 'finished' });
    expect(s.dateFinished).toBe(NOW.toISOString());
    expect(s.expiresAt).toBe(new Date(NOW.getTime() + 3600_000).toISOString());
    expect(s.stages.publish).toEqual({ startedAt: STARTED, finishedAt: NOW.toISOString(), exitCode: 0 });
  });

  it.each([
    ['algorithmFailed', 41],
    ['dataProvisioningFailed', 31],
    ['algorithmProvisioningFailed', 32],
    ['diskQuotaExceeded', 42],
    ['timedOut', 72],
  ] as const)('a remembered outcome %s ends as %i with the published logs', (reason, code) => {
    const s = recorded(
      at60(
        { publish: pod('Succeeded') },
        { publishResults: RESULTS },
        { outcome: { reason, stage: 'algorithm', exitCode: 2 } },
      ),
    )!;
    expect(s.code).toBe(code);
    expect(s.termination).toEqual({ reason, stage: 'algorithm', exitCode: 2 });
    expect(s.outcome).toBeUndefined();
    expect(s.results).toEqual(RESULTS);
  });

  describe('a job is finished (70) only after its algorithm ran', () => {
    const configured = { startedAt: CREATED, finishedAt: CREATED, exitCode: 0 };
    const publishedWith = (stages: JobStatus['stages']): JobStatus =>
      recorded(
        at60(
          { publish: pod('Succeeded', { exitCode: 0 }) },
          { publishResults: RESULTS },
          { stages: { ...stages, publish: { startedAt: STARTED } } },
        ),
      )!;

    // Publishing right after a successful configure, with no outcome to say why: no pass of the planner writes that,
    // but whatever did, the job is not reported finished.
    it('a publish with no algorithm record after a successful configure ends 73, not 70', () => {
      const s = publishedWith({ configure: configured });
      expect(s.code).toBe(73);
      expect(s.termination).toMatchObject({ reason: 'infrastructureFailed', stage: 'algorithm' });
      expect(s.termination?.message).toContain('no algorithm run');
      expect(s.results).toEqual(RESULTS);
    });

    it.each([
      ['never finished', { startedAt: CREATED }],
      ['ended without an exit code', { startedAt: CREATED, finishedAt: CREATED, reason: 'InfrastructureFailed' }],
      ['exited non-zero', { startedAt: CREATED, finishedAt: CREATED, exitCode: 3 }],
    ])('nor one whose algorithm record %s', (_, algorithm) => {
      expect(publishedWith({ configure: configured, algorithm }).code).toBe(73);
    });

    it('nor one whose configure record shows no success', () => {
      const ran = { startedAt: CREATED, finishedAt: CREATED, exitCode: 0 };
      expect(publishedWith({ algorithm: ran }).termination).toMatchObject({
        reason: 'infrastructureFailed',
        stage: 'configure',
      });
      expect(publishedWith({ configure: { ...configured, exitCode: 2 }, algorithm: ran }).code).toBe(73);
    });
  });

  it('unreadable results → 62', () => {
    const s = recorded(at60({ publish: pod('Succeeded') }, { publishResults: { error: 'no result line' } }))!;
    expect(s.code).toBe(62);
    expect(s.termination?.message).toContain('no result line');
  });

  it('publish pod failed → 62 with its exit code', () => {
    const s = recorded(at60({ publish: pod('Failed', { exitCode: 1, reason: 'Error' }) }))!;
    expect(s.code).toBe(62);
    expect(s.termination).toMatchObject({ reason: 'resultsUploadFailed', stage: 'publish', exitCode: 1 });
  });

  it('publish failure after an algorithm failure mentions both', () => {
    const s = recorded(
      at60(
        { publish: pod('Failed', { exitCode: 1 }) },
        {},
        { outcome: { reason: 'algorithmFailed', stage: 'algorithm' } },
      ),
    )!;
    expect(s.code).toBe(62);
    expect(s.termination?.message).toContain('algorithmFailed');
  });

  it('kubelet deadline → 72 timed out in publish', () => {
    const s = recorded(at60({ publish: pod('Failed', { reason: 'DeadlineExceeded' }) }))!;
    expect(s.code).toBe(72);
    expect(s.termination).toMatchObject({ reason: 'timedOut', stage: 'publish' });
  });

  it('own deadline → deletes the publish pod, 72', () => {
    const actions = at60({ publish: pod('Running') }, { now: deadline });
    expect(kinds(actions)).toEqual(['deletePod:publish', 'recordStatus']);
    expect(recorded(actions)!.code).toBe(72);
  });

  it('a publish pod deleted while it runs is retried', () => {
    expect(recorded(at60({ publish: pod('Running', { deleting: true }) }))!.stages.publish?.retries).toMatchObject([
      { reason: 'PodDeleted' },
    ]);
  });

  it('a publish pod that can never start → 62', () => {
    const actions = at60({ publish: pod('Pending', { waitingReason: 'CreateContainerConfigError' }) });
    expect(kinds(actions)).toEqual(['deletePod:publish', 'recordStatus']);
    expect(recorded(actions)!.code).toBe(62);
  });

  it('asks for the reported results exactly when the publish pod succeeded', () => {
    const st = statusAt(StatusCode.PublishingResults);
    expect(needsPublishResults({ status: st, stopRequested: false, pods: { publish: pod('Succeeded') } })).toBe(true);
    expect(needsPublishResults({ status: st, stopRequested: true, pods: { publish: pod('Succeeded') } })).toBe(false);
    expect(needsPublishResults({ status: st, stopRequested: false, pods: { publish: pod('Running') } })).toBe(false);
    expect(
      needsPublishResults({
        status: statusAt(StatusCode.RunningAlgorithm),
        stopRequested: false,
        pods: { publish: pod('Succeeded') },
      }),
    ).toBe(false);
  });

  it('also asks for them when publish refused the outputs as over the disk limit (exit 42), not on other failures', () => {
    const st = statusAt(StatusCode.PublishingResults);
    expect(
      needsPublishResults({ status: st, stopRequested: false, pods: { publish: pod('Failed', { exitCode: 42 }) } }),
    ).toBe(true);
    expect(
      needsPublishResults({ status: st, stopRequested: false, pods: { publish: pod('Failed', { exitCode: 1 }) } }),
    ).toBe(false);
    expect(
      needsPublishResults({
        status: st,
        stopRequested: false,
        pods: { publish: pod('Failed', { exitCode: 42, reason: 'DeadlineExceeded' }) },
      }),
    ).toBe(false);
  });

  const LOGS_ONLY: Result[] = [
    {
      index: 0,
      filename: 'configure.log',
      filesize: 10,
      type: 'configurationLog',
      key: `${JOB_ID}/logs/configure.log`,
    },
    { index: 1, filename: 'publish.log', filesize: 99, type: 'publishLog', key: `${JOB_ID}/logs/publish.log` },
  ];

  it.each([
    ['with the stored logs', LOGS_ONLY, LOGS_ONLY],
    ['with no results when the manifest is unreadable', { error: 'no results manifest in the store' }, []],
  ] as const)('outputs over the disk limit (exit 42) → 42 in publish, %s', (_, stored, results) => {
    const s = recorded(
      at60(
        { publish: pod('Failed', { exitCode: 42, reason: 'Error' }) },
        { publishResults: stored as Observed['publishResults'] },
      ),
    )!;
    expect(s.code).toBe(42);
    expect(s.termination).toMatchObject({ reason: 'diskQuotaExceeded', stage: 'publish', exitCode: 42 });
    expect(s.termination?.message).toContain('disk limit of 1024 MiB');
    expect(s.results).toEqual(results);
    expect(s.stages.publish).toMatchObject({ exitCode: 42, finishedAt: NOW.toISOString() });
  });

  it('an output target that could not be used (exit 3) → 62 with the stored logs, reading the manifest first', () => {
    const failed = pod('Failed', { exitCode: 3, reason: 'Error' });
    const st = statusAt(StatusCode.PublishingResults);
    expect(needsPublishResults({ status: st, stopRequested: false, pods: { publish: failed } })).toBe(true);
    const s = recorded(at60({ publish: failed }, { publishResults: LOGS_ONLY }))!;
    expect(s.code).toBe(62);
    expect(s.termination).toMatchObject({ reason: 'resultsUploadFailed', stage: 'publish', exitCode: 3 });
    expect(s.termination?.message).toContain("could not be sent to the job's output target");
    expect(s.results).toEqual(LOGS_ONLY);
  });

  it('the disk limit overrides a remembered algorithm failure, and says so', () => {
    const s = recorded(
      at60(
        { publish: pod('Failed', { exitCode: 42 }) },
        { publishResults: LOGS_ONLY },
        { outcome: { reason: 'algorithmFailed', stage: 'algorithm' } },
      ),
    )!;
    expect(s.code).toBe(42);
    expect(s.termination?.message).toContain('after algorithmFailed in algorithm');
  });

  it('records a bounded summary of many results, and their count', () => {
    const output = (i: number): Result => ({
      index: i + 2,
      filename: `o${i}`,
      filesize: 1,
      type: 'output',
      key: `${JOB_ID}/outputs/o${i}`,
    });
    const many: Result[] = [
      RESULTS[0]!,
      { index: 1, filename: 'algorithm.log', filesize: 1, type: 'algorithmLog', key: `${JOB_ID}/logs/algorithm.log` },
      ...Array.from({ length: 2500 }, (_, i) => output(i)),
      { index: 2502, filename: 'publish.log', filesize: 1, type: 'publishLog', key: `${JOB_ID}/logs/publish.log` },
    ];
    const s = recorded(at60({ publish: pod('Succeeded', { exitCode: 0 }) }, { publishResults: many }))!;
    expect(s.code).toBe(70);
    expect(s.resultsTotal).toBe(2503);
    expect(s.results.map((r) => r.index)).toEqual([0, 1, ...Array.from({ length: 100 }, (_, i) => i + 2), 2502]);
  });
});

describe('a status write the API server refuses for good', () => {
  it.each([
    [StatusCode.WarmingUp, 31, 'dataProvisioningFailed', undefined],
    [StatusCode.ConfiguringVolumes, 31, 'dataProvisioningFailed', 'configure'],
    [StatusCode.RunningAlgorithm, 41, 'algorithmFailed', 'algorithm'],
    [StatusCode.PublishingResults, 62, 'resultsUploadFailed', 'publish'],
  ] as const)('at %i ends the job as %i (%s), without results, ending its pods', (code, finalCode, reason, stage) => {
    const pods = { configure: pod('Succeeded'), algorithm: pod('Succeeded'), publish: pod('Running') };
    const o = observe({ status: statusAt(code), pods: stage === 'publish' ? pods : {} });
    const actions = planStatusRefused(o, '422: ConfigMap is invalid: Too long');
    const s = recorded(actions)!;
    expect(s.code).toBe(finalCode);
    expect(s.termination).toEqual({
      reason,
      ...(stage ? { stage } : {}),
      message: "the job's status could not be recorded: 422: ConfigMap is invalid: Too long",
    });
    expect(s.results).toEqual([]);
    expect(s.resultsTotal).toBe(0);
    expect(s.history.at(-1)!.code).toBe(finalCode);
    if (stage) expect(s.stages[stage]).toMatchObject({ finishedAt: NOW.toISOString(), reason: 'StatusRefused' });
    expect(kinds(actions)).toEqual([...(stage === 'publish' ? ['deletePod:publish'] : []), 'recordStatus']);
    expect(() => jobStatusSchema.parse(s)).not.toThrow();
  });

  it('leaves a final job alone', () => {
    expect(planStatusRefused(observe({ status: statusAt(StatusCode.JobFinished) }), '422')).toEqual([]);
  });
});

describe('stop at every stage', () => {
  const cases: Array<[StatusCode, Stage | undefined, Observed['pods'], string[]]> = [
    [StatusCode.WarmingUp, undefined, {}, []],
    [StatusCode.JobStarted, 'configure', {}, []],
    [StatusCode.ConfiguringVolumes, 'configure', { configure: pod('Running') }, ['deletePod:configure']],
    [StatusCode.ConfiguringVolumes, 'configure', { configure: pod('Pending') }, ['deletePod:configure']],
    [StatusCode.ConfiguringVolumes, 'configure', { configure: pod('Succeeded') }, []],
    [
      StatusCode.ProvisioningSuccess,
      'configure',
      { configure: pod('Succeeded'), algorithm: pod('Pending') },
      ['deletePod:algorithm'],
    ],
    [
      StatusCode.RunningAlgorithm,
      'algorithm',
      { configure: pod('Succeeded'), algorithm: pod('Running') },
      ['deletePod:algorithm'],
    ],
    [
      StatusCode.RunningAlgorithm,
      'algorithm',
      { configure: pod('Succeeded'), algorithm: pod('Unknown') },
      ['deletePod:algorithm'],
    ],
    [
      StatusCode.RunningAlgorithm,
      'algorithm',
      { configure: pod('Succeeded'), algorithm: pod('Running', { deleting: true }) },
      [],
    ],
    [
      StatusCode.PublishingResults,
      'publish',
      { configure: pod('Succeeded'), algorithm: pod('Failed'), publish: pod('Running') },
      ['deletePod:publish'],
    ],
    [
      StatusCode.PublishingResults,
      'publish',
      { configure: pod('Succeeded'), algorithm: pod('Succeeded'), publish: pod('Succeeded') },
      [],
    ],
  ];

  it.each(cases)('status %i (%s) with pods %j → deletes %j and ends as stopped', (code, stage, pods, deletes) => {
    const actions = plan(observe({ status: statusAt(code), pods, stopRequested: true }));
    expect(kinds(actions)).toEqual([...deletes, 'recordStatus']);
    const s = recorded(actions)!;
    expect(s.code).toBe(71);
    expect(s.text).toBe('Job stopped');
    expect(s.stopRequested).toBe(true);
    expect(s.termination?.reason).toBe('stopped');
    expect(s.termination?.stage).toBe(stage);
    expect(s.dateFinished).toBe(NOW.toISOString());
    if (stage && s.stages[stage]) expect(s.stages[stage]!.finishedAt).toBeDefined();
  });

  it('stopping an already-finished job changes nothing', () => {
    const actions = plan(
      observe({ status: statusAt(StatusCode.JobFinished), stopRequested: true, secretExists: false }),
    );
    expect(actions.filter((a) => a.kind === 'recordStatus')).toEqual([]);
  });

  it('a pod still running after the stop was recorded is deleted', () => {
    const st = statusAt(StatusCode.JobStopped, { termination: { reason: 'stopped', stage: 'algorithm' } });
    expect(
      kinds(
        plan(observe({ status: st, stopRequested: true, pods: { algorithm: pod('Running') }, secretExists: false })),
      ),
    ).toEqual(['deletePod:algorithm', 'wait']);
  });
});

describe('final statuses: nothing more until storage expiry, then clean-up, then retention', () => {
  const finals = [...FINAL_CODES];

  it.each(finals)('%i before expiry only waits (deleting a leftover Secret)', (code) => {
    const st = statusAt(code);
    const pods = { configure: pod('Succeeded'), algorithm: pod('Failed'), publish: pod('Succeeded') };
    expect(plan(observe({ status: st, pods }))).toEqual([
      { kind: 'deleteSecret' },
      { kind: 'wait', reason: 'expiry', until: new Date(st.expiresAt!) },
    ]);
    expect(plan(observe({ status: st, pods, secretExists: false }))).toEqual([
      { kind: 'wait', reason: 'expiry', until: new Date(st.expiresAt!) },
    ]);
  });

  it.each(finals)('%i removes an output Secret at once', (code) => {
    const st = statusAt(code);
    expect(plan(observe({ status: st, secretExists: false, outputSecretExists: true }))).toEqual([
      { kind: 'deleteOutputSecret' },
      { kind: 'wait', reason: 'expiry', until: new Date(st.expiresAt!) },
    ]);
  });

  it.each(finals)('%i after expiry removes pods, volume, Secret and stored results, and records it', (code) => {
    const st = statusAt(code);
    const later = new Date(st.expiresAt!);
    const actions = plan(
      observe({
        status: st,
        now: later,
        pods: { configure: pod('Succeeded'), algorithm: pod('Failed'), publish: pod('Succeeded') },
      }),
    );
    expect(kinds(actions)).toEqual([
      'deletePod:configure',
      'deletePod:algorithm',
      'deletePod:publish',
      'deleteSecret',
      'deletePvc',
      'deleteStoredResults',
      'recordStatus',
    ]);
    const s = recorded(actions)!;
    expect(s.code).toBe(code);
    expect(s.cleanedUpAt).toBe(later.toISOString());
    expect(s.history).toEqual(st.history);
  });

  it('after clean-up it waits for the retention, then deletes the job', () => {
    const cleanedUpAt = NOW.toISOString();
    const st = statusAt(StatusCode.JobFinished, { cleanedUpAt });
    const until = new Date(NOW.getTime() + S.retentionSeconds * 1000);
    expect(plan(observe({ status: st, pvcExists: false, secretExists: false }))).toEqual([
      { kind: 'wait', reason: 'retention', until },
    ]);
    expect(plan(observe({ status: st, pvcExists: false, secretExists: false, now: until }))).toEqual([
      { kind: 'deleteJob' },
    ]);
  });

  it('a paid job still settling is kept past its retention until the settlement is recorded, at most a day more', () => {
    const cleanedUpAt = NOW.toISOString();
    const st = statusAt(StatusCode.JobFinished, { cleanedUpAt });
    const retained = new Date(NOW.getTime() + S.retentionSeconds * 1000);
    const held = new Date(retained.getTime() + SETTLEMENT_HOLD_SECONDS * 1000);
    const at = (now: Date, settling: boolean) =>
      plan(observe({ status: st, pvcExists: false, secretExists: false, now, settling }));
    expect(at(NOW, true)).toEqual([{ kind: 'wait', reason: 'retention', until: retained }]);
    expect(at(retained, true)).toEqual([{ kind: 'wait', reason: 'retention', until: held }]);
    expect(at(new Date(held.getTime() - 1), true)).toEqual([{ kind: 'wait', reason: 'retention', until: held }]);
    // Settled (the ConfigMap's change brings the job back): deleted at once.
    expect(at(new Date(held.getTime() - 1), false)).toEqual([{ kind: 'deleteJob' }]);
    expect(at(held, true)).toEqual([{ kind: 'deleteJob', unsettled: true }]);
  });

  it('a final status without expiresAt expires from its finish date', () => {
    const st = statusAt(StatusCode.JobFinished);
    delete st.expiresAt;
    const actions = plan(observe({ status: st, secretExists: false }));
    expect(actions).toEqual([{ kind: 'wait', reason: 'expiry', until: new Date(Date.parse(STARTED) + 3600_000) }]);
  });
});

describe('invariants over every status × pod phase × stop × Secret × volume', () => {
  const podStates: Array<ObservedPod | undefined> = [
    undefined,
    pod('Pending'),
    pod('Pending', { waitingReason: 'InvalidImageName' }),
    pod('Running'),
    pod('Unknown'),
    pod('Succeeded', { exitCode: 0 }),
    pod('Failed', { exitCode: 1, reason: 'Error' }),
    pod('Failed', { exitCode: 32 }),
    pod('Failed', { exitCode: 42 }),
    pod('Failed', { reason: 'DeadlineExceeded' }),
    pod('Running', { deleting: true }),
  ];
  const codes = Object.values(StatusCode);
  const times = [NOW, new Date(NOW.getTime() + 10 * 24 * 3600_000)];
  const rank = (code: StatusCode): number =>
    isFinal(code) ? 4 : ['queued', 'configure', 'algorithm', 'publish'].indexOf(stageOfCode(code));

  const combos: Observed[] = [];
  for (const code of codes) {
    for (const state of podStates) {
      for (const stage of STAGES) {
        for (const stopRequested of [false, true]) {
          for (const now of times) {
            for (const present of [true, false]) {
              combos.push(
                observe({
                  status: statusAt(code),
                  pods: state ? { [stage]: state } : {},
                  stopRequested,
                  now,
                  secretExists: present,
                  pvcExists: present,
                  publishResults: RESULTS,
                }),
              );
            }
          }
        }
      }
    }
  }

  it(`holds for all ${combos.length} observations`, () => {
    for (const o of combos) {
      const actions = plan(o);
      const again = plan(structuredClone(o));
      expect(again).toEqual(actions);

      const s = recorded(actions);
      if (s) {
        expect(() => jobStatusSchema.parse(s)).not.toThrow();
        expect(rank(s.code)).toBeGreaterThanOrEqual(rank(o.status.code));
        expect(s.history.length).toBeGreaterThanOrEqual(o.status.history.length);
        expect(s.history.slice(0, o.status.history.length)).toEqual(o.status.history);
        if (s.history.length > o.status.history.length) expect(s.history.at(-1)!.code).toBe(s.code);
        expect(Boolean(s.termination)).toBe(isFinal(s.code));
        if (s.code === StatusCode.JobFinished) {
          expect(s.stages.configure).toMatchObject({ finishedAt: expect.any(String), exitCode: 0 });
          expect(s.stages.algorithm).toMatchObject({ finishedAt: expect.any(String), exitCode: 0 });
        }
        if (isFinal(s.code)) {
          expect(s.dateFinished).toBeDefined();
          expect(s.expiresAt).toBeDefined();
          expect(s.outcome).toBeUndefined();
        }
        // a record is always the last action: everything it claims has been done first
        expect(actions.at(-1)).toEqual({ kind: 'recordStatus', status: s, event: expect.any(Object) });
      }
      for (const a of actions) {
        if (a.kind === 'createPod') expect(o.pods[a.stage]).toBeUndefined();
        if (a.kind === 'deletePod') expect(o.pods[a.stage]?.deleting).toBe(false);
        if (a.kind === 'createPvc') expect(o.pvcExists).toBe(false);
        if (a.kind === 'deleteSecret') expect(o.secretExists).toBe(true);
        if (a.kind === 'deletePvc') expect(o.pvcExists).toBe(true);
      }
      if (isFinal(o.status.code)) {
        expect(actions.some((a) => a.kind === 'createPod' || a.kind === 'createPvc')).toBe(false);
        if (s) expect(s.code).toBe(o.status.code);
      }
      if (o.stopRequested && !isFinal(o.status.code)) {
        expect(s?.code).toBe(71);
        expect(actions.some((a) => a.kind === 'createPod' || a.kind === 'createPvc')).toBe(false);
      }
    }
  });
});

describe('a simulated world driven by the planner', () => {
  type World = {
    status: JobStatus;
    pods: Partial<Record<Stage, ObservedPod>>;
    pvc: boolean;
    secret: boolean;
    stop: boolean;
    finals: number;
  };

  function apply(w: World, actions: Action[], limit = actions.length): void {
    for (const a of actions.slice(0, limit)) {
      if (a.kind === 'createPod') w.pods[a.stage] = pod('Pending');
      if (a.kind === 'deletePod') delete w.pods[a.stage];
      if (a.kind === 'createPvc') w.pvc = true;
      if (a.kind === 'deletePvc') w.pvc = false;
      if (a.kind === 'deleteSecret') w.secret = false;
      if (a.kind === 'recordStatus') {
        if (isFinal(a.status.code) && !isFinal(w.status.code)) w.finals += 1;
        w.status = a.status;
      }
    }
  }

  function run(
    w: World,
    exits: Partial<Record<Stage, number>>,
    opts: { interruptEvery?: number; stopAt?: number } = {},
  ): World {
    let now = NOW.getTime();
    for (let step = 0; step < 60 && !isFinal(w.status.code); step++) {
      if (opts.stopAt === step) w.stop = true;
      const o = observe({
        status: w.status,
        pods: w.pods,
        pvcExists: w.pvc,
        secretExists: w.secret,
        stopRequested: w.stop,
        now: new Date(now),
        publishResults: RESULTS,
      });
      const actions = plan(o);
      // An interrupted pass carries out only some of its actions; the next pass must make up for it.
      apply(
        w,
        actions,
        opts.interruptEvery && step % opts.interruptEvery === 1 ? Math.max(0, actions.length - 1) : actions.length,
      );
      for (const stage of STAGES) {
        const p = w.pods[stage];
        if (p?.phase === 'Pending') w.pods[stage] = pod('Running');
        else if (p?.phase === 'Running') {
          const exitCode = exits[stage] ?? 0;
          w.pods[stage] = pod(exitCode === 0 ? 'Succeeded' : 'Failed', { exitCode });
        }
      }
      now += 1000;
    }
    return w;
  }

  const fresh = (): World => ({
    status: statusAt(StatusCode.WarmingUp),
    pods: {},
    pvc: false,
    secret: true,
    stop: false,
    finals: 0,
  });

  it('happy path ends at 70 with the full history, exactly once', () => {
    const w = run(fresh(), {});
    expect(w.status.code).toBe(70);
    expect(w.status.history.map((h) => h.code)).toEqual([1, 10, 20, 30, 40, 60, 70]);
    expect(w.status.results).toEqual(RESULTS);
    expect(w.secret).toBe(false);
    expect(w.finals).toBe(1);
  });

  it.each([
    [{ algorithm: 1 }, 41],
    [{ configure: 31 }, 31],
    [{ configure: 32 }, 32],
    [{ publish: 1 }, 62],
  ] as const)('exits %j end at %i after publishing', (exits, code) => {
    const w = run(fresh(), exits);
    expect(w.status.code).toBe(code);
    expect(w.finals).toBe(1);
  });

  it.each([2, 3, 4])('interrupting every %i-th pass still ends correctly, exactly once', (every) => {
    const w = run(fresh(), { algorithm: 1 }, { interruptEvery: every });
    expect(w.status.code).toBe(41);
    expect(w.finals).toBe(1);
  });

  it.each([0, 1, 2, 3, 4, 5, 6])(
    'a stop arriving at pass %i ends as stopped (or as finished if it came too late)',
    (stopAt) => {
      const w = run(fresh(), {}, { stopAt });
      expect([71, 70]).toContain(w.status.code);
      expect(w.finals).toBe(1);
      if (w.status.code === 71)
        expect(Object.values(w.pods).every((p) => p.phase === 'Succeeded' || p.phase === 'Failed')).toBe(true);
    },
  );
});

describe('infrastructure failures: retried a bounded number of times, then 73', () => {
  const lost = (uid: string): ObservedPod =>
    pod('Failed', { uid, exitCode: 137, reason: 'ContainerStatusUnknown', containerReason: 'ContainerStatusUnknown' });
  const at = (code: StatusCode, pods: Observed['pods'], st: JobStatus, extra: Partial<Observed> = {}): Action[] =>
    plan(
      observe({
        status: st,
        pods: { configure: pod('Succeeded'), ...(code === 60 ? { algorithm: pod('Succeeded') } : {}), ...pods },
        secretExists: false,
        ...extra,
      }),
    );

  it('walks a lost algorithm pod through retry, removal, next attempt; the third loss ends the job 73, not 41', () => {
    let st = statusAt(StatusCode.RunningAlgorithm);
    // Attempt 1 lost: recorded with its uid, the pod removed (only that pod), no new pod yet.
    let actions = at(40, { algorithm: lost('u1') }, st);
    expect(actions.slice(0, 1)).toEqual([{ kind: 'deletePod', stage: 'algorithm', uid: 'u1' }]);
    st = recorded(actions)!;
    expect(st.code).toBe(40);
    expect(st.stages.algorithm?.retries).toMatchObject([{ reason: 'ContainerStatusUnknown', podUid: 'u1' }]);
    expect(actions.at(-1)).toMatchObject({ event: { type: 'Warning', reason: 'StageInfrastructureFailed' } });
    // The same pod seen again (a stale cache, or still going): nothing recorded twice.
    expect(at(40, { algorithm: lost('u1') }, st)).toEqual([
      { kind: 'deletePod', stage: 'algorithm', uid: 'u1' },
      { kind: 'wait', reason: 'podDeleting' },
    ]);
    // Gone: attempt 2 under the same name.
    actions = at(40, {}, st);
    expect(actions[0]).toEqual({ kind: 'createPod', stage: 'algorithm', retry: true });
    st = recorded(actions)!;
    expect(st.stages.algorithm).toMatchObject({ attempts: 2 });
    expect(actions.at(-1)).toMatchObject({
      event: { reason: 'StageRetried', message: 'algorithm attempt 2 started after ContainerStatusUnknown' },
    });
    // Attempt 2 (a new uid) lost, then vanished attempt 3: the retries are used up.
    st = recorded(at(40, { algorithm: lost('u2') }, st))!;
    st = recorded(at(40, {}, st))!;
    expect(st.stages.algorithm).toMatchObject({ attempts: 3 });
    actions = at(40, { algorithm: lost('u3') }, st);
    expect(kinds(actions)).toEqual(['deletePod:algorithm', 'createPod:publish', 'recordStatus']);
    st = recorded(actions)!;
    expect(st.code).toBe(60);
    expect(st.outcome).toMatchObject({ reason: 'infrastructureFailed', stage: 'algorithm' });
    expect(st.outcome?.message).toContain('ContainerStatusUnknown');
    expect(st.stages.algorithm).toMatchObject({ attempts: 3, reason: 'InfrastructureFailed' });
    expect(st.stages.algorithm?.retries).toHaveLength(3);
    // Publish keeps the logs; the job ends 73.
    const final = recorded(
      at(
        60,
        { publish: pod('Succeeded', { exitCode: 0 }) },
        { ...st, stages: { ...st.stages, publish: { startedAt: STARTED } } },
        { publishResults: RESULTS },
      ),
    )!;
    expect(final.code).toBe(StatusCode.InfrastructureFailed);
    expect(final.termination).toMatchObject({ reason: 'infrastructureFailed', stage: 'algorithm' });
    expect(final.stages.algorithm?.retries).toHaveLength(3);
  });

  it('an algorithm with network access runs at most once: its first lost pod ends it', () => {
    const networked = workflow();
    networked.allowNetworkAccess = true;
    const actions = at(40, { algorithm: lost('u1') }, statusAt(StatusCode.RunningAlgorithm), { workflow: networked });
    expect(kinds(actions)).toEqual(['deletePod:algorithm', 'createPod:publish', 'recordStatus']);
    expect(recorded(actions)!.outcome?.message).toContain('not run twice');
  });

  it('with no retries configured, configure and publish end at the first loss', () => {
    const settings = { ...S, infrastructureRetries: 0 };
    const conf = recorded(
      plan(observe({ status: statusAt(StatusCode.ConfiguringVolumes), pods: { configure: lost('c') }, settings })),
    )!;
    expect(conf.outcome).toMatchObject({ reason: 'infrastructureFailed', stage: 'configure' });
    const pub = recorded(at(60, { publish: lost('p') }, statusAt(StatusCode.PublishingResults), { settings }))!;
    expect(pub.code).toBe(73);
    expect(pub.termination).toMatchObject({ reason: 'infrastructureFailed', stage: 'publish' });
  });

  it('the stage deadline counts from the first attempt: a retry does not extend it', () => {
    const deadline = new Date(Date.parse(STARTED) + (60 + S.deadlineGraceSeconds) * 1000);
    const actions = at(40, {}, statusAt(StatusCode.RunningAlgorithm), { now: deadline });
    expect(recorded(actions)!.outcome).toMatchObject({ reason: 'timedOut', stage: 'algorithm' });
  });

  it('a stop request ends a job whose pod was lost, without a retry', () => {
    const actions = at(40, { algorithm: lost('u1') }, statusAt(StatusCode.RunningAlgorithm), { stopRequested: true });
    expect(recorded(actions)!.code).toBe(71);
  });
});

describe('observations that fail never hold a job', () => {
  const at60 = (extra: Partial<Observed>): Action[] =>
    plan(
      observe({
        status: statusAt(StatusCode.PublishingResults),
        pods: { configure: pod('Succeeded'), algorithm: pod('Succeeded'), publish: pod('Succeeded', { exitCode: 0 }) },
        secretExists: false,
        ...extra,
      }),
    );
  const since = new Date(NOW.getTime() - 10_000);

  it('results that cannot be read are asked for again at the retry interval', () => {
    expect(at60({ publishResults: { unreadable: 'results manifest: connect ECONNREFUSED', since } })).toEqual([
      {
        kind: 'wait',
        reason: 'observationFailed',
        until: new Date(NOW.getTime() + S.observationRetryIntervalSeconds * 1000),
      },
    ]);
  });

  it('past the retry bound the job ends 62, saying why', () => {
    const longAgo = new Date(NOW.getTime() - S.observationRetrySeconds * 1000);
    const s = recorded(at60({ publishResults: { unreadable: 'results manifest: 503 SlowDown', since: longAgo } }))!;
    expect(s.code).toBe(StatusCode.ResultsUploadFailed);
    expect(s.termination?.message).toContain('could not be read: results manifest: 503 SlowDown');
  });

  it('past the publish deadline the job ends 62 even if the bound is further', () => {
    const deadline = new Date(Date.parse(STARTED) + (S.publishDeadlineSeconds + S.deadlineGraceSeconds) * 1000);
    const s = recorded(at60({ now: deadline, publishResults: { unreadable: 'x', since: deadline } }))!;
    expect(s.code).toBe(62);
  });

  it('a stop request and expiry act without the observation', () => {
    expect(recorded(at60({ stopRequested: true }))!.code).toBe(71);
    const final = statusAt(StatusCode.JobFinished, { expiresAt: NOW.toISOString() });
    expect(kinds(plan(observe({ status: final, podUnreadable: { unreadable: 'x', since } })))).toContain(
      'deleteStoredResults',
    );
  });

  it('a stage pod that cannot be looked up: look again until the deadline, then time the stage out', () => {
    const st = statusAt(StatusCode.RunningAlgorithm);
    const deadline = new Date(Date.parse(STARTED) + (60 + S.deadlineGraceSeconds) * 1000);
    const podUnreadable = { unreadable: 'algorithm pod: 503', since };
    const o = { status: st, pods: { configure: pod('Succeeded') }, secretExists: false, podUnreadable };
    expect(plan(observe(o))).toEqual([
      {
        kind: 'wait',
        reason: 'observationFailed',
        until: new Date(NOW.getTime() + S.observationRetryIntervalSeconds * 1000),
      },
    ]);
    const s = recorded(plan(observe({ ...o, now: deadline })))!;
    expect(s.outcome).toMatchObject({ reason: 'timedOut', stage: 'algorithm' });
  });
});
