import { imageFailure, isOwnStorageEviction, podDisruption, type Disruption } from './disruption.ts';
import type { Environment } from '../lib/job/environments.ts';
import { CONFIGURE_EXIT, PUBLISH_EXIT } from '../lib/job/exit-codes.ts';
import { STAGES, type Stage } from '../lib/job/names.ts';
import { summarizeResults } from '../lib/job/results-manifest.ts';
import {
  StatusCode,
  TERMINATION_CODE,
  isFinal,
  statusText,
  truncateMessage,
  type JobStatus,
  type Result,
  type StageRecord,
  type StageRetry,
  type Termination,
} from '../lib/job/status.ts';
import type { Workflow } from '../lib/job/workflow.ts';

/**
 * The engine's decision, as a pure function: from what it observes of one job (its ConfigMap, pods, volume, Secret,
 * the clock and its environment's load) to the actions that move the job on. Running the same observation twice
 * yields the same actions, and every action is idempotent, so a restarted engine picks up where it was.
 *
 * Flow: queued (1) → configure (20) → algorithm (40) → publish (60) → final. A configure or algorithm that does not
 * succeed still leads to publish (so its logs are kept) with the outcome remembered in `status.outcome`; the final
 * code is that outcome's. A stop request ends the job at once from any non-final stage.
 *
 * What cannot be observed never holds a job: an observation that fails (its pod cannot be looked up, its results
 * cannot be read) is retried until its bound or the stage's deadline, and the stage then ends as if it had been seen
 * to fail. A pod the infrastructure failed (disruption.ts) is given again, under the same name, a bounded number of
 * times; each retry is kept in the stage's record (`attempts`, `retries`). See docs/reliability.md.
 */

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

export interface ObservedPod {
  phase: PodPhase;
  /** The pod has a deletionTimestamp. */
  deleting: boolean;
  /** Tells this pod from an earlier one of the same name. */
  uid?: string;
  /** The main container's exit code, once terminated. */
  exitCode?: number;
  /** Why the pod or its container ended (DeadlineExceeded, Evicted, OOMKilled, Error, …). */
  reason?: string;
  /** The container's own terminated reason (ContainerStatusUnknown, OOMKilled, Error, …). */
  containerReason?: string;
  message?: string;
  /** Why the container has not started yet (ErrImagePull, InvalidImageName, …). */
  waitingReason?: string;
  /** The reason of the pod's DisruptionTarget condition (DeletionByTaintManager, EvictionByEvictionAPI, …). */
  disruptionTarget?: string;
}

/** An observation that failed: why, and since when (the reconciler's clock) it has been failing. */
export interface Unreadable {
  unreadable: string;
  since: Date;
}

export interface PlannerSettings {
  configureDeadlineSeconds: number;
  publishDeadlineSeconds: number;
  /** Extra time past a deadline before the engine acts itself, so the kubelet's own deadline wins when it works. */
  deadlineGraceSeconds: number;
  /** How long a queued job waits for its Secret before it fails. */
  secretWaitSeconds: number;
  /** How long a job's ConfigMap is kept after its storage expired. */
  retentionSeconds: number;
  /** Storage expiry when the job's environment is gone. */
  defaultStorageExpirySeconds: number;
  /** How many times a stage whose pod the infrastructure failed is given a new pod (docs/reliability.md). */
  infrastructureRetries: number;
  /** How long an observation may keep failing before the stage ends as if it had failed (the deadline bounds it too). */
  observationRetrySeconds: number;
  /** How often a failing observation is tried again. */
  observationRetryIntervalSeconds: number;
}

export const DEFAULT_PLANNER_SETTINGS: PlannerSettings = {
  configureDeadlineSeconds: 900,
  publishDeadlineSeconds: 900,
  deadlineGraceSeconds: 10,
  secretWaitSeconds: 120,
  retentionSeconds: 7 * 24 * 3600,
  defaultStorageExpirySeconds: 24 * 3600,
  infrastructureRetries: 2,
  observationRetrySeconds: 120,
  observationRetryIntervalSeconds: 5,
};

/**
 * How long past its retention a paid job still settling (its escrow lock's end not recorded) is kept for the
 * settlement. The settler finishes within minutes unless the chain or the key is unavailable; and once the lock has
 * expired (its lifetime is the job's duration plus an hour) its payer can take it back, so after a day more the record
 * guards nothing the chain does not: the job is deleted anyway, and the engine logs it as an error.
 */
export const SETTLEMENT_HOLD_SECONDS = 24 * 3600;

export interface Capacity {
  /** Jobs of the same environment that have started and not ended (this one excluded). */
  active: number;
  /** Queued jobs of the same environment that come before this one. */
  ahead: number;
}

export interface Observed {
  workflow: Workflow;
  status: JobStatus;
  stopRequested: boolean;
  pods: Partial<Record<Stage, ObservedPod>>;
  pvcExists: boolean;
  secretExists: boolean;
  /** A v2 job's output Secret (its encrypted storage target) is still there. */
  outputSecretExists?: boolean;
  now: Date;
  environment: Environment | undefined;
  capacity: Capacity;
  /** A paid job whose escrow lock is not settled yet (lib/job/configmap.ts): its deletion waits for the settlement. */
  settling?: boolean;
  /**
   * Every result the publish pod stored (its results manifest), `error` when the store holds none that can be used,
   * `unreadable` when the store could not be asked; supplied when `needsPublishResults` says so.
   */
  publishResults?: Result[] | { error: string } | Unreadable;
  /** The current stage's pod could not be looked up (none in the cache, and the API server did not answer). */
  podUnreadable?: Unreadable;
  settings: PlannerSettings;
}

export interface JobEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

type WaitReason =
  | 'queued'
  | 'environmentUnknown'
  | 'secretPending'
  | 'podDeleting'
  | 'podRunning'
  | 'observationFailed'
  | 'expiry'
  | 'retention';

export type Action =
  | { kind: 'createPvc' }
  /** `retry`: a new attempt, which must not find a pod of that name still there (that is a conflict, not success). */
  | { kind: 'createPod'; stage: Stage; retry?: true }
  /** `uid`: only that pod, not a newer one of the same name. */
  | { kind: 'deletePod'; stage: Stage; uid?: string }
  | { kind: 'deletePvc' }
  | { kind: 'deleteSecret' }
  | { kind: 'deleteOutputSecret' }
  | { kind: 'deleteStoredResults' }
  /**
   * Delete the job's ConfigMap (its retention ended); its owned objects go with it. `unsettled`: its escrow lock was
   * still not settled SETTLEMENT_HOLD_SECONDS after that.
   */
  | { kind: 'deleteJob'; unsettled?: true }
  | { kind: 'recordStatus'; status: JobStatus; event: JobEvent }
  /** Nothing to do now; `until` says when the job needs another look even if nothing changes. */
  | { kind: 'wait'; reason: WaitReason; until?: Date };

/** Whether the observation must carry the publish pod's stored results before planning. */
export function needsPublishResults(o: Pick<Observed, 'status' | 'stopRequested' | 'pods'>): boolean {
  const pod = o.pods.publish;
  if (isFinal(o.status.code) || o.stopRequested || stageOfCode(o.status.code) !== 'publish' || !pod) return false;
  // A publish pod that succeeded did its work even if it is being deleted now.
  return pod.phase === 'Succeeded' || (!pod.deleting && storedWithRefusal(pod) !== undefined);
}

/** Whether an observation failed. */
export function isUnreadable(value: unknown): value is Unreadable {
  return typeof value === 'object' && value !== null && 'unreadable' in value;
}

/**
 * Publish stored the logs and the manifest but not the outputs: over the job's disk limit, or its own output target
 * (v2 `output`) could not be used. Both are final: the same outputs and target would fail again.
 */
function storedWithRefusal(pod: ObservedPod): 'diskLimit' | 'outputTarget' | undefined {
  if (pod.phase !== 'Failed' || isDeadlineExceeded(pod)) return undefined;
  if (pod.exitCode === PUBLISH_EXIT.diskQuotaExceeded) return 'diskLimit';
  if (pod.exitCode === PUBLISH_EXIT.outputTargetFailed) return 'outputTarget';
  return undefined;
}

type Phase = 'queued' | Stage;

export function stageOfCode(code: StatusCode): Phase {
  switch (code) {
    case StatusCode.WarmingUp:
      return 'queued';
    case StatusCode.JobStarted:
    case StatusCode.ConfiguringVolumes:
    case StatusCode.ProvisioningSuccess:
      return 'configure';
    case StatusCode.RunningAlgorithm:
      return 'algorithm';
    default:
      return 'publish';
  }
}

export function plan(o: Observed): Action[] {
  if (isFinal(o.status.code)) return planFinal(o);
  if (o.stopRequested) return planStop(o);
  const phase = stageOfCode(o.status.code);
  if (o.podUnreadable && phase !== 'queued') {
    // Until the deadline, look again; past it, the stage ends as timed out, as with a pod that never finished.
    const deadline = stageDeadline(o, phase);
    if (!deadline.passed) return [retryObservation(o, deadline.at)];
  }
  switch (phase) {
    case 'queued':
      return planQueued(o);
    case 'configure':
      return planConfigure(o);
    case 'algorithm':
      return planAlgorithm(o);
    case 'publish':
      return planPublish(o);
  }
}

// ---- status transitions ----

const iso = (d: Date): string => d.toISOString();
const addSeconds = (at: string | Date, s: number): Date => new Date(new Date(at).getTime() + s * 1000);

function withCode(status: JobStatus, code: StatusCode, now: Date, changes: Partial<JobStatus> = {}): JobStatus {
  return {
    ...status,
    ...changes,
    code,
    text: statusText(code),
    updatedAt: iso(now),
    history: [...status.history, ...(changes.history ?? []), { code, text: statusText(code), at: iso(now) }],
  };
}

/** A stage's record once it has ended; its attempts and retries stay. */
function endStage(record: StageRecord | undefined, now: Date, end: Partial<StageRecord>): StageRecord {
  return stripUndefined({
    startedAt: record?.startedAt ?? iso(now),
    finishedAt: iso(now),
    attempts: record?.attempts,
    retries: record?.retries,
    ...stripUndefined(end),
  });
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

function record(status: JobStatus, event: JobEvent): Action {
  return { kind: 'recordStatus', status, event };
}

function storageExpiry(o: Observed): number {
  return o.environment?.storageExpirySeconds ?? o.settings.defaultStorageExpirySeconds;
}

const TERMINATION_EVENT: Record<Termination['reason'], string> = {
  finished: 'JobFinished',
  dataProvisioningFailed: 'DataProvisioningFailed',
  algorithmProvisioningFailed: 'AlgorithmProvisioningFailed',
  algorithmFailed: 'AlgorithmFailed',
  diskQuotaExceeded: 'DiskQuotaExceeded',
  resultsUploadFailed: 'ResultsUploadFailed',
  stopped: 'JobStopped',
  timedOut: 'JobTimedOut',
  infrastructureFailed: 'InfrastructureFailed',
};

const succeeded = (rec: StageRecord | undefined): boolean => rec?.finishedAt !== undefined && rec.exitCode === 0;

/**
 * A job is finished (70) only if its record shows configure and the algorithm both run to exit 0. The planner moves
 * from configure to publish only with an outcome, and from the algorithm to publish only with the algorithm's record,
 * so this holds by construction; checked here, where every final status is made, it also holds for a status some
 * other writer left at 60 without either. Such a job's algorithm never ran (or not to its end), which is no fault of
 * its own: the infrastructure's.
 */
function unlessAlgorithmMissing(termination: Termination, stages: JobStatus['stages']): Termination {
  if (termination.reason !== 'finished' || (succeeded(stages.configure) && succeeded(stages.algorithm)))
    return termination;
  const configured = succeeded(stages.configure);
  return {
    reason: 'infrastructureFailed',
    stage: configured ? 'algorithm' : 'configure',
    message: `the job reached publishing with ${configured ? 'no algorithm run' : 'no successful configure'} recorded`,
  };
}

/** Ends the job; `published` (every result stored) is recorded as its bounded summary and count. */
function finalize(o: Observed, ending: Termination, stages: JobStatus['stages'], published?: Result[]): Action {
  const termination = unlessAlgorithmMissing(ending, stages);
  const code = TERMINATION_CODE[termination.reason];
  const t = stripUndefined({ ...termination, message: termination.message && truncateMessage(termination.message) });
  const status = withCode(o.status, code, o.now, {
    stages,
    ...(published ? { results: summarizeResults(published), resultsTotal: published.length } : {}),
    termination: t,
    outcome: undefined,
    stopRequested: o.stopRequested || o.status.stopRequested,
    dateFinished: iso(o.now),
    expiresAt: iso(addSeconds(o.now, storageExpiry(o))),
  });
  const detail = t.message ? `: ${t.message}` : '';
  return record(stripUndefined(status), {
    type: termination.reason === 'finished' ? 'Normal' : 'Warning',
    reason: TERMINATION_EVENT[termination.reason],
    message: `${statusText(code)}${t.stage ? ` (${t.stage})` : ''}${detail}`,
  });
}

/** Move on to publishing, remembering how configure or the algorithm ended when that was not a success. */
function startPublish(
  o: Observed,
  stages: JobStatus['stages'],
  outcome: Termination | undefined,
  extra: JobStatus['history'] = [],
): Action[] {
  const status = withCode(o.status, StatusCode.PublishingResults, o.now, {
    stages: { ...stages, publish: { startedAt: iso(o.now) } },
    ...(outcome
      ? { outcome: stripUndefined({ ...outcome, message: outcome.message && truncateMessage(outcome.message) }) }
      : {}),
    history: extra,
  });
  const why = outcome ? ` after ${outcome.reason}${outcome.stage ? ` in ${outcome.stage}` : ''}` : '';
  return [
    ...createPodUnlessPresent(o, 'publish'),
    record(status, {
      type: outcome ? 'Warning' : 'Normal',
      reason: 'PublishStarted',
      message: `Publishing results${why}`,
    }),
  ];
}

// ---- pods ----

/** Container states that will not resolve by waiting: the pod can never run as specified. */
const FATAL_WAITING_REASONS = new Set([
  'InvalidImageName',
  'ErrImageNeverPull',
  'CreateContainerConfigError',
  'CreateContainerError',
]);

/** A pod is created once per stage; one already there (from an interrupted pass) is the one to follow. */
function createPodUnlessPresent(o: Observed, stage: Stage): Action[] {
  return o.pods[stage] ? [] : [{ kind: 'createPod', stage }];
}

function isActive(pod: ObservedPod | undefined): pod is ObservedPod {
  return (
    pod !== undefined &&
    !pod.deleting &&
    (pod.phase === 'Pending' || pod.phase === 'Running' || pod.phase === 'Unknown')
  );
}

function deleteActivePods(o: Observed): Action[] {
  return STAGES.filter((s) => isActive(o.pods[s])).map((stage) => ({ kind: 'deletePod', stage }));
}

function deleteExistingPods(o: Observed): Action[] {
  return STAGES.filter((s) => o.pods[s] !== undefined && !o.pods[s].deleting).map((stage) => ({
    kind: 'deletePod',
    stage,
  }));
}

function deadlinePassed(o: Observed, startedAt: string | undefined, seconds: number): { passed: boolean; at: Date } {
  const at = addSeconds(startedAt ?? o.status.updatedAt, seconds + o.settings.deadlineGraceSeconds);
  return { passed: o.now.getTime() >= at.getTime(), at };
}

/** A stage's deadline, counted from when the stage started: its retries share it. */
function stageDeadline(o: Observed, stage: Stage): { passed: boolean; at: Date } {
  const seconds = {
    configure: o.settings.configureDeadlineSeconds,
    algorithm: o.workflow.limits.maxDurationSeconds,
    publish: o.settings.publishDeadlineSeconds,
  }[stage];
  return deadlinePassed(o, o.status.stages[stage]?.startedAt, seconds);
}

/** Look again at a failing observation after the retry interval, or at `giveUpAt` if that comes first. */
function retryObservation(o: Observed, giveUpAt: Date): Action {
  const next = Math.min(o.now.getTime() + o.settings.observationRetryIntervalSeconds * 1000, giveUpAt.getTime());
  return { kind: 'wait', reason: 'observationFailed', until: new Date(next) };
}

// ---- the infrastructure's failures ----

/**
 * How many new pods a stage may get after the infrastructure failed one. Configure and publish are idempotent
 * (they write the same files and objects again). The algorithm is run again only without network access: then all
 * it can affect is the job's own volume, which nobody reads before publish; with network it may have acted on the
 * world, so it runs at most once.
 */
function retriesAllowed(o: Observed, stage: Stage): number {
  return stage === 'algorithm' && o.workflow.allowNetworkAccess ? 0 : o.settings.infrastructureRetries;
}

const describeDisruption = (d: Disruption): string => `${d.reason}${d.message ? `: ${d.message}` : ''}`;

/**
 * The infrastructure's part of a stage under way, before the stage's own outcome is read: a pod already given up on
 * is removed; a pod the infrastructure failed, or one that vanished, is retried while the stage has retries left,
 * else `end` ends the stage as failed by the infrastructure. Undefined when the pod is the stage's own business.
 */
function planInfrastructure(
  o: Observed,
  stage: Stage,
  pre: Action[],
  end: (rec: StageRecord | undefined, message: string) => Action[],
): Action[] | undefined {
  const pod = o.pods[stage];
  const rec: StageRecord = o.status.stages[stage] ?? { startedAt: iso(o.now) };
  const retries = rec.retries ?? [];
  if (pod?.uid !== undefined && retries.some((r) => r.podUid === pod.uid)) {
    // Its name is the next attempt's.
    const remove: Action[] = pod.deleting ? [] : [{ kind: 'deletePod', stage, uid: pod.uid }];
    return [...pre, ...remove, { kind: 'wait', reason: 'podDeleting' }];
  }
  if (!pod) {
    // A failure recorded, its pod now gone: the next attempt. Otherwise the pod this stage was given vanished.
    if (retries.length >= (rec.attempts ?? 1)) return [...pre, ...nextAttempt(o, stage, rec)];
    return retryOrEnd(o, stage, pre, rec, { reason: 'PodVanished', message: 'the pod disappeared' }, end);
  }
  const disruption = podDisruption(pod);
  return disruption && retryOrEnd(o, stage, pre, rec, disruption, end, pod);
}

function retryOrEnd(
  o: Observed,
  stage: Stage,
  pre: Action[],
  rec: StageRecord,
  disruption: Disruption,
  end: (rec: StageRecord | undefined, message: string) => Action[],
  pod?: ObservedPod,
): Action[] {
  const entry: StageRetry = stripUndefined({
    at: iso(o.now),
    reason: disruption.reason.slice(0, 128),
    message: disruption.message && truncateMessage(disruption.message),
    podUid: pod?.uid,
  });
  const retries = [...(rec.retries ?? []), entry];
  const allowed = retriesAllowed(o, stage);
  const remove: Action[] = pod && !pod.deleting ? [{ kind: 'deletePod', stage, ...(pod.uid && { uid: pod.uid }) }] : [];
  if (retries.length > allowed) {
    const why =
      allowed === 0 && stage === 'algorithm'
        ? '; an algorithm with network access is not run twice'
        : retries.length > 1
          ? ` (${retries.length} times)`
          : '';
    const message = `the infrastructure failed the ${stage} pod: ${describeDisruption(disruption)}${why}`;
    return [...pre, ...remove, ...end({ ...rec, retries }, message)];
  }
  const withRetry: StageRecord = { ...rec, retries };
  // Vanished: nothing to wait for, the next attempt starts now.
  if (!pod) return [...pre, ...nextAttempt(o, stage, withRetry)];
  const status: JobStatus = {
    ...o.status,
    updatedAt: iso(o.now),
    stages: { ...o.status.stages, [stage]: withRetry },
  };
  return [
    ...pre,
    ...remove,
    record(status, {
      type: 'Warning',
      reason: 'StageInfrastructureFailed',
      message: `The infrastructure failed the ${stage} pod (${describeDisruption(disruption)}); retry ${retries.length} of ${allowed} follows`,
    }),
  ];
}

/** The stage's next pod, under the same name (the logs endpoint and every reader find it there). */
function nextAttempt(o: Observed, stage: Stage, rec: StageRecord): Action[] {
  const attempts = (rec.attempts ?? 1) + 1;
  const last = rec.retries?.at(-1);
  const status: JobStatus = {
    ...o.status,
    updatedAt: iso(o.now),
    stages: { ...o.status.stages, [stage]: { ...rec, attempts } },
  };
  return [
    ...(stage === 'configure' && !o.pvcExists ? [{ kind: 'createPvc' } as const] : []),
    { kind: 'createPod', stage, retry: true },
    record(status, {
      type: 'Warning',
      reason: 'StageRetried',
      message: `${stage} attempt ${attempts} started${last ? ` after ${last.reason}` : ''}`,
    }),
  ];
}

function describePod(pod: ObservedPod): string {
  const parts = [pod.reason, pod.message].filter((p): p is string => Boolean(p));
  if (pod.exitCode !== undefined) parts.unshift(`exit code ${pod.exitCode}`);
  return parts.join(': ');
}

function isDeadlineExceeded(pod: ObservedPod): boolean {
  return pod.reason === 'DeadlineExceeded';
}

/** How a stage that did not succeed ended, seen from its pod. */
function failedStageRecord(o: Observed, stage: Stage, pod: ObservedPod): StageRecord {
  return endStage(o.status.stages[stage], o.now, {
    exitCode: pod.exitCode,
    reason: pod.reason ?? pod.waitingReason,
    message: pod.message && truncateMessage(pod.message),
  });
}

// ---- per phase ----

function planFinal(o: Observed): Action[] {
  const s = o.status;
  const expiresAt = s.expiresAt ? new Date(s.expiresAt) : addSeconds(s.dateFinished ?? s.updatedAt, storageExpiry(o));
  const expired = s.cleanedUpAt !== undefined || o.now.getTime() >= expiresAt.getTime();
  // Until expiry, finished pods stay (their logs are served from them); only ones still running are removed.
  const actions: Action[] = expired ? deleteExistingPods(o) : deleteActivePods(o);
  if (o.secretExists) actions.push({ kind: 'deleteSecret' });
  // Only publish reads it, and a final job publishes no more.
  if (o.outputSecretExists) actions.push({ kind: 'deleteOutputSecret' });
  if (expired && o.pvcExists) actions.push({ kind: 'deletePvc' });
  if (!s.cleanedUpAt) {
    if (!expired) return [...actions, { kind: 'wait', reason: 'expiry', until: expiresAt }];
    const cleaned: JobStatus = { ...s, cleanedUpAt: iso(o.now), updatedAt: iso(o.now) };
    return [
      ...actions,
      { kind: 'deleteStoredResults' },
      record(cleaned, { type: 'Normal', reason: 'StorageExpired', message: 'Pods, volume and stored results removed' }),
    ];
  }
  const retainedUntil = addSeconds(s.cleanedUpAt, o.settings.retentionSeconds);
  if (o.now.getTime() < retainedUntil.getTime())
    return [...actions, { kind: 'wait', reason: 'retention', until: retainedUntil }];
  if (!o.settling) return [...actions, { kind: 'deleteJob' }];
  // The job's record is what settles its escrow lock: kept until the settlement is recorded, within a bound.
  const heldUntil = addSeconds(retainedUntil, SETTLEMENT_HOLD_SECONDS);
  if (o.now.getTime() < heldUntil.getTime())
    return [...actions, { kind: 'wait', reason: 'retention', until: heldUntil }];
  return [...actions, { kind: 'deleteJob', unsettled: true }];
}

function planStop(o: Observed): Action[] {
  const phase = stageOfCode(o.status.code);
  const stages = { ...o.status.stages };
  if (phase !== 'queued' && stages[phase] && !stages[phase].finishedAt) {
    stages[phase] = endStage(stages[phase], o.now, { reason: 'Stopped' });
  }
  return [
    ...deleteActivePods(o),
    finalize(
      o,
      { reason: 'stopped', ...(phase === 'queued' ? {} : { stage: phase }), message: "stopped at the owner's request" },
      stages,
    ),
  ];
}

function planQueued(o: Observed): Action[] {
  const env = o.environment;
  if (!env) return [{ kind: 'wait', reason: 'environmentUnknown' }];
  if (!o.secretExists) {
    const giveUpAt = addSeconds(o.workflow.dateCreated, o.settings.secretWaitSeconds);
    if (o.now.getTime() >= giveUpAt.getTime()) {
      return [
        finalize(o, { reason: 'dataProvisioningFailed', message: "the job's Secret never appeared" }, o.status.stages),
      ];
    }
    return [{ kind: 'wait', reason: 'secretPending', until: giveUpAt }];
  }
  if (o.capacity.active + o.capacity.ahead >= env.maxConcurrentJobs) return [{ kind: 'wait', reason: 'queued' }];
  return startConfigure(o);
}

/** Take the job off the queue: its volume, its configure pod, and status 20 (with 10 in the history). */
function startConfigure(o: Observed): Action[] {
  const actions: Action[] = [];
  if (!o.pvcExists) actions.push({ kind: 'createPvc' });
  if (!o.pods.configure) actions.push({ kind: 'createPod', stage: 'configure' });
  const now = iso(o.now);
  const started = o.status.code === StatusCode.WarmingUp;
  const status = withCode(o.status, StatusCode.ConfiguringVolumes, o.now, {
    dateStarted: o.status.dateStarted ?? now,
    stages: { ...o.status.stages, configure: o.status.stages.configure ?? { startedAt: now } },
    history: started ? [{ code: StatusCode.JobStarted, text: statusText(StatusCode.JobStarted), at: now }] : [],
  });
  actions.push(
    record(status, {
      type: 'Normal',
      reason: 'ConfigureStarted',
      message: 'Job started; provisioning data and algorithm',
    }),
  );
  return actions;
}

function planConfigure(o: Observed): Action[] {
  // 10 and 30 are never left standing by this planner; seen after an interrupted write, they resume as 20.
  if (o.status.code !== StatusCode.ConfiguringVolumes && !o.pods.configure?.deleting) {
    const pod = o.pods.configure;
    if (!pod || isActive(pod)) return startConfigure(o);
  }
  const pod = o.pods.configure;
  const deadline = stageDeadline(o, 'configure');
  const moveOn = (stages: JobStatus['stages'], outcome: Termination): Action[] => startPublish(o, stages, outcome);
  const infrastructureFailed = (record: StageRecord | undefined, message: string): Action[] =>
    moveOn(
      { ...o.status.stages, configure: endStage(record, o.now, { reason: 'InfrastructureFailed' }) },
      { reason: 'infrastructureFailed', stage: 'configure', message },
    );
  const timedOut = (): Action[] => {
    if (pod && imageFailure(pod) === 'pulling')
      return [
        { kind: 'deletePod', stage: 'configure' },
        ...infrastructureFailed(o.status.stages.configure, pullMessage(pod)),
      ];
    return [
      ...(isActive(pod) ? [{ kind: 'deletePod', stage: 'configure' } as const] : []),
      ...moveOn(
        { ...o.status.stages, configure: endStage(o.status.stages.configure, o.now, { reason: 'DeadlineExceeded' }) },
        {
          reason: 'timedOut',
          stage: 'configure',
          message: `configure did not finish within ${o.settings.configureDeadlineSeconds}s`,
        },
      ),
    ];
  };

  if (pod?.phase === 'Succeeded') {
    const now = iso(o.now);
    const status = withCode(o.status, StatusCode.RunningAlgorithm, o.now, {
      stages: {
        ...o.status.stages,
        configure: endStage(o.status.stages.configure, o.now, { exitCode: pod.exitCode ?? 0 }),
        algorithm: { startedAt: now },
      },
      history: [{ code: StatusCode.ProvisioningSuccess, text: statusText(StatusCode.ProvisioningSuccess), at: now }],
    });
    return [
      ...createPodUnlessPresent(o, 'algorithm'),
      record(status, {
        type: 'Normal',
        reason: 'AlgorithmStarted',
        message: 'Provisioning succeeded; running the algorithm',
      }),
    ];
  }
  if (deadline.passed) return timedOut();
  const infrastructure = planInfrastructure(o, 'configure', [], infrastructureFailed);
  if (infrastructure) return infrastructure;
  if (!pod) return [];
  if (pod.deleting) return [{ kind: 'wait', reason: 'podDeleting' }];
  if (pod.phase === 'Failed') {
    const stages = { ...o.status.stages, configure: failedStageRecord(o, 'configure', pod) };
    return moveOn(stages, configureOutcome(pod));
  }
  if (imageFailure(pod) === 'refused') {
    // The project's own image: the node, not the job, cannot use it.
    return [
      { kind: 'deletePod', stage: 'configure' },
      ...infrastructureFailed(failedStageRecord(o, 'configure', pod), pullMessage(pod)),
    ];
  }
  if (pod.waitingReason && FATAL_WAITING_REASONS.has(pod.waitingReason)) {
    const stages = { ...o.status.stages, configure: failedStageRecord(o, 'configure', pod) };
    return [
      { kind: 'deletePod', stage: 'configure' },
      ...moveOn(stages, {
        reason: 'dataProvisioningFailed',
        stage: 'configure',
        message: `configure pod cannot start: ${pod.waitingReason}${pod.message ? `: ${pod.message}` : ''}`,
      }),
    ];
  }
  return [{ kind: 'wait', reason: 'podRunning', until: deadline.at }];
}

/** Why a pod's image could not be had. */
function pullMessage(pod: ObservedPod): string {
  return `the node could not get the pod's image: ${pod.waitingReason}${pod.message ? `: ${pod.message}` : ''}`;
}

function configureOutcome(pod: ObservedPod): Termination {
  if (isDeadlineExceeded(pod)) return { reason: 'timedOut', stage: 'configure', message: describePod(pod) };
  if (pod.exitCode === CONFIGURE_EXIT.algorithmFailed) {
    return {
      reason: 'algorithmProvisioningFailed',
      stage: 'configure',
      exitCode: pod.exitCode,
      message: 'the algorithm could not be provisioned (see the configuration log)',
    };
  }
  const message =
    pod.exitCode === CONFIGURE_EXIT.dataFailed
      ? 'a dataset could not be provisioned (see the configuration log)'
      : `configure failed: ${describePod(pod)}`;
  return stripUndefined({ reason: 'dataProvisioningFailed', stage: 'configure', exitCode: pod.exitCode, message });
}

function algorithmOutcome(pod: ObservedPod): Termination {
  if (isDeadlineExceeded(pod))
    return { reason: 'timedOut', stage: 'algorithm', message: 'the algorithm exceeded its maximum duration' };
  if (isOwnStorageEviction(pod)) {
    return { reason: 'diskQuotaExceeded', stage: 'algorithm', message: describePod(pod) };
  }
  return stripUndefined({
    reason: 'algorithmFailed',
    stage: 'algorithm',
    exitCode: pod.exitCode,
    message: describePod(pod) || 'the algorithm pod failed',
  });
}

function planAlgorithm(o: Observed): Action[] {
  const pre: Action[] = o.secretExists ? [{ kind: 'deleteSecret' }] : [];
  const pod = o.pods.algorithm;
  const deadline = stageDeadline(o, 'algorithm');
  const infrastructureFailed = (record: StageRecord | undefined, message: string): Action[] =>
    startPublish(
      o,
      { ...o.status.stages, algorithm: endStage(record, o.now, { reason: 'InfrastructureFailed' }) },
      { reason: 'infrastructureFailed', stage: 'algorithm', message },
    );
  const timedOut = (): Action[] => {
    if (pod && imageFailure(pod) === 'pulling')
      return [
        ...pre,
        { kind: 'deletePod', stage: 'algorithm' },
        ...infrastructureFailed(o.status.stages.algorithm, pullMessage(pod)),
      ];
    return [
      ...pre,
      ...(isActive(pod) ? [{ kind: 'deletePod', stage: 'algorithm' } as const] : []),
      ...startPublish(
        o,
        { ...o.status.stages, algorithm: endStage(o.status.stages.algorithm, o.now, { reason: 'DeadlineExceeded' }) },
        {
          reason: 'timedOut',
          stage: 'algorithm',
          message: `the algorithm did not finish within ${o.workflow.limits.maxDurationSeconds}s`,
        },
      ),
    ];
  };

  if (pod?.phase === 'Succeeded') {
    return [
      ...pre,
      ...startPublish(
        o,
        { ...o.status.stages, algorithm: endStage(o.status.stages.algorithm, o.now, { exitCode: pod.exitCode ?? 0 }) },
        undefined,
      ),
    ];
  }
  if (deadline.passed) return timedOut();
  const infrastructure = planInfrastructure(o, 'algorithm', pre, infrastructureFailed);
  if (infrastructure) return infrastructure;
  if (!pod) return pre;
  if (pod.deleting) return [...pre, { kind: 'wait', reason: 'podDeleting' }];
  if (pod.phase === 'Failed') {
    return [
      ...pre,
      ...startPublish(
        o,
        { ...o.status.stages, algorithm: failedStageRecord(o, 'algorithm', pod) },
        algorithmOutcome(pod),
      ),
    ];
  }
  // An image the node refuses is the algorithm's own (its DDO names it), unlike one it cannot pull.
  if (pod.waitingReason && FATAL_WAITING_REASONS.has(pod.waitingReason)) {
    return [
      ...pre,
      { kind: 'deletePod', stage: 'algorithm' },
      ...startPublish(
        o,
        { ...o.status.stages, algorithm: failedStageRecord(o, 'algorithm', pod) },
        {
          reason: 'algorithmFailed',
          stage: 'algorithm',
          message: `the algorithm's container cannot start: ${pod.waitingReason}${pod.message ? `: ${pod.message}` : ''}`,
        },
      ),
    ];
  }
  return [...pre, { kind: 'wait', reason: 'podRunning', until: deadline.at }];
}

function planPublish(o: Observed): Action[] {
  const pre: Action[] = o.secretExists ? [{ kind: 'deleteSecret' }] : [];
  const pod = o.pods.publish;
  const deadline = stageDeadline(o, 'publish');
  const outcomeNote = o.status.outcome
    ? ` (after ${o.status.outcome.reason}${o.status.outcome.stage ? ` in ${o.status.outcome.stage}` : ''})`
    : '';
  const infrastructureFailed = (record: StageRecord | undefined, message: string): Action[] => [
    finalize(
      o,
      { reason: 'infrastructureFailed', stage: 'publish', message: `${message}${outcomeNote}` },
      { ...o.status.stages, publish: endStage(record, o.now, { reason: 'InfrastructureFailed' }) },
    ),
  ];
  const timedOut = (): Action[] => {
    if (pod && imageFailure(pod) === 'pulling')
      return [
        ...pre,
        { kind: 'deletePod', stage: 'publish' },
        ...infrastructureFailed(o.status.stages.publish, pullMessage(pod)),
      ];
    return [
      ...pre,
      ...(isActive(pod) ? [{ kind: 'deletePod', stage: 'publish' } as const] : []),
      finalize(
        o,
        {
          reason: 'timedOut',
          stage: 'publish',
          message: `publishing did not finish within ${o.settings.publishDeadlineSeconds}s${outcomeNote}`,
        },
        { ...o.status.stages, publish: endStage(o.status.stages.publish, o.now, { reason: 'DeadlineExceeded' }) },
      ),
    ];
  };
  const uploadFailed = (p: ObservedPod, message: string): Action =>
    finalize(
      o,
      stripUndefined({
        reason: 'resultsUploadFailed' as const,
        stage: 'publish' as const,
        exitCode: p.exitCode,
        message: `${message}${outcomeNote}`,
      }),
      { ...o.status.stages, publish: failedStageRecord(o, 'publish', p) },
    );

  const reported = o.publishResults;
  const refusal = pod && storedWithRefusal(pod);
  if (pod && isUnreadable(reported) && (pod.phase === 'Succeeded' || refusal)) {
    // The store could not be asked: ask again until the bound or the deadline, then end as unreadable results.
    const giveUpAt = new Date(
      Math.min(addSeconds(reported.since, o.settings.observationRetrySeconds).getTime(), deadline.at.getTime()),
    );
    if (o.now.getTime() < giveUpAt.getTime()) return [...pre, retryObservation(o, giveUpAt)];
    return [...pre, uploadFailed(pod, `the publish pod's results could not be read: ${reported.unreadable}`)];
  }
  if (pod?.phase === 'Succeeded') {
    if (reported === undefined || !Array.isArray(reported)) {
      const why = reported && 'error' in reported ? reported.error : 'not supplied';
      return [...pre, uploadFailed(pod, `the publish pod's results could not be read: ${why}`)];
    }
    const stages = {
      ...o.status.stages,
      publish: endStage(o.status.stages.publish, o.now, { exitCode: pod.exitCode ?? 0 }),
    };
    return [...pre, finalize(o, o.status.outcome ?? { reason: 'finished' }, stages, reported)];
  }
  if (pod && !pod.deleting && refusal) {
    const stored = Array.isArray(reported) ? reported : [];
    const termination: Termination =
      refusal === 'diskLimit'
        ? {
            reason: 'diskQuotaExceeded',
            stage: 'publish',
            exitCode: pod.exitCode,
            message: `the outputs exceed the job's disk limit of ${o.workflow.limits.diskMiB} MiB; none was uploaded (see the publish log)${outcomeNote}`,
          }
        : {
            reason: 'resultsUploadFailed',
            stage: 'publish',
            exitCode: pod.exitCode,
            message: `the outputs could not be sent to the job's output target (the publish log says why)${outcomeNote}`,
          };
    return [
      ...pre,
      finalize(o, termination, { ...o.status.stages, publish: failedStageRecord(o, 'publish', pod) }, stored),
    ];
  }
  if (deadline.passed) return timedOut();
  const infrastructure = planInfrastructure(o, 'publish', pre, infrastructureFailed);
  if (infrastructure) return infrastructure;
  if (!pod) return pre;
  if (pod.deleting) return [...pre, { kind: 'wait', reason: 'podDeleting' }];
  if (pod.phase === 'Failed') {
    if (isDeadlineExceeded(pod)) return timedOut();
    return [...pre, uploadFailed(pod, `publishing failed: ${describePod(pod) || 'the publish pod failed'}`)];
  }
  if (imageFailure(pod) === 'refused') {
    return [
      ...pre,
      { kind: 'deletePod', stage: 'publish' },
      ...infrastructureFailed(failedStageRecord(o, 'publish', pod), pullMessage(pod)),
    ];
  }
  if (pod.waitingReason && FATAL_WAITING_REASONS.has(pod.waitingReason)) {
    return [
      ...pre,
      { kind: 'deletePod', stage: 'publish' },
      uploadFailed(pod, `the publish pod cannot start: ${pod.waitingReason}`),
    ];
  }
  return [...pre, { kind: 'wait', reason: 'podRunning', until: deadline.at }];
}

// ---- a status the API server will not take ----

/** How a job ends when its status cannot be recorded, by the phase it was in. */
const REFUSED_STATUS_REASON: Record<Phase, Termination['reason']> = {
  queued: 'dataProvisioningFailed',
  configure: 'dataProvisioningFailed',
  algorithm: 'algorithmFailed',
  publish: 'resultsUploadFailed',
};

/**
 * The API server refused a status write for good (a 4xx other than 409 and 429, e.g. 422 for a ConfigMap over
 * 1 MiB): retrying the same write would hold the job, and its environment's slot, forever. Ends the job instead with
 * its phase's failure, recording no results, so that this much smaller status fits. A final job's write (its
 * clean-up mark) is left alone.
 */
export function planStatusRefused(o: Observed, detail: string): Action[] {
  if (isFinal(o.status.code)) return [];
  const phase = stageOfCode(o.status.code);
  const stages = { ...o.status.stages };
  if (phase !== 'queued' && stages[phase] && !stages[phase].finishedAt)
    stages[phase] = endStage(stages[phase], o.now, { reason: 'StatusRefused' });
  const termination: Termination = {
    reason: REFUSED_STATUS_REASON[phase],
    ...(phase === 'queued' ? {} : { stage: phase }),
    message: `the job's status could not be recorded: ${detail}`,
  };
  return [...deleteActivePods(o), finalize(o, termination, stages, [])];
}
