import { randomBytes } from 'node:crypto';
import { PatchStrategy, setHeaderOptions, type CoreV1Api, type V1ConfigMap, type V1Pod } from '@kubernetes/client-node';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Logger } from '../lib/http/log.ts';
import { InvalidJobConfigMap, readJobConfigMap, statusPatch, type JobConfigMap } from '../lib/job/configmap.ts';
import { findEnvironment } from '../lib/job/environments.ts';
import { STAGES, jobNames, type Stage } from '../lib/job/names.ts';
import { deleteJobResults, readResultsManifest } from '../lib/job/results-store.ts';
import { StatusCode, isFinal, type JobStatus } from '../lib/job/status.ts';
import type { ClusterView } from './cluster-view.ts';
import { kubeStatus } from '../lib/kube/errors.ts';
import { apiMessage, createIdempotent, deleteIdempotent, isPermanentRefusal } from './kube.ts';
import type { EngineMetrics } from './metrics.ts';
import { observePod } from './observe.ts';
import { buildPvc, buildStagePod, type PodSpecSettings } from './pod-specs.ts';
import {
  isUnreadable,
  needsPublishResults,
  plan,
  planStatusRefused,
  SETTLEMENT_HOLD_SECONDS,
  stageOfCode,
  type Action,
  type JobEvent,
  type Observed,
  type PlannerSettings,
  type Unreadable,
} from './planner.ts';
import type { Settler } from './settlement.ts';
import type { ReconcileResult } from './work-queue.ts';

/**
 * One reconcile of one job: observe (from the informers' caches and the job index), plan (pure), carry the actions
 * out, and say what should happen next (`ReconcileResult`): when to look at the job again, and which queued jobs the
 * pass made room for. A status write that loses to a concurrent change (409) is just a requeue: the change's own
 * watch event brings the newer ConfigMap. One the API server refuses for good ends the job (planStatusRefused)
 * rather than being retried forever. The caller (the work queue) guarantees one reconcile per job at a time; jobs
 * leaving the queue are serialised per environment so that two jobs never take the same free slot.
 *
 * An observation that needs the network (the current stage's pod when the cache has none, the stored results) and
 * fails does not abort the pass: it reaches the planner as `unreadable`, with the time it started failing (kept here,
 * in memory), so that deadlines, stop requests and expiry still act (docs/reliability.md).
 */

/** The calls the reconciler makes: the objects of a job, its status and its events. */
export type ReconcilerApi = Pick<
  CoreV1Api,
  | 'patchNamespacedConfigMap'
  | 'deleteNamespacedConfigMap'
  | 'createNamespacedPersistentVolumeClaim'
  | 'deleteNamespacedPersistentVolumeClaim'
  | 'createNamespacedPod'
  | 'readNamespacedPod'
  | 'deleteNamespacedPod'
  | 'deleteNamespacedSecret'
  | 'createNamespacedEvent'
>;

export interface ReconcilerDeps {
  api: ReconcilerApi;
  view: ClusterView;
  namespace: string;
  planner: PlannerSettings;
  pods: PodSpecSettings;
  store: { client: S3Client; bucket: string };
  metrics: EngineMetrics;
  log: Logger;
  identity: string;
  /** Settles paid jobs' escrow locks once they are final; absent when the engine holds no provider key. */
  settlement?: Settler;
}

const isCreation = (a: Action): boolean => a.kind === 'createPvc' || a.kind === 'createPod';

class Conflict extends Error {}
class StatusRefused extends Error {}

/** What one pass found should happen next, gathered while its actions run. */
class Next {
  private requeueAt: number | undefined;
  private readonly others = new Set<string>();

  after(at: Date): void {
    this.requeueAt = Math.min(this.requeueAt ?? Infinity, at.getTime());
  }

  alsoReconcile(jobIds: Iterable<string>): void {
    for (const id of jobIds) this.others.add(id);
  }

  result(now: number): ReconcileResult {
    return {
      ...(this.requeueAt !== undefined ? { requeueAfterMs: Math.max(0, this.requeueAt - now) } : {}),
      ...(this.others.size > 0 ? { enqueue: [...this.others] } : {}),
    };
  }
}

export class Reconciler {
  private readonly envLocks = new Map<string, Promise<void>>();
  /** Since when each failing observation (`jobId/what`) has failed; a success or the job's end forgets it. */
  private readonly failingSince = new Map<string, Date>();

  constructor(private readonly deps: ReconcilerDeps) {}

  async reconcile(jobId: string): Promise<ReconcileResult> {
    const started = performance.now();
    try {
      const job = this.read(jobId);
      if (!job) {
        this.forgetFailures(jobId);
        return {};
      }
      const next = new Next();
      try {
        const leavingQueue = job.status.code === StatusCode.WarmingUp && !job.stopRequestedAt;
        // Read again once the lock is held: the job may have changed while it waited.
        if (leavingQueue)
          await this.withEnvironmentLock(job.workflow.environment, () => this.pass(this.read(jobId), next));
        else await this.pass(job, next);
        await this.settle(jobId, next);
      } catch (err) {
        if (!(err instanceof Conflict)) throw err;
        this.deps.metrics.conflicts.inc();
        return { ...next.result(Date.now()), requeue: true };
      }
      return next.result(Date.now());
    } finally {
      this.deps.metrics.reconcileSeconds.observe((performance.now() - started) / 1000);
    }
  }

  /** After the pass, from the job as it now is (this engine's own write included): one step of its payment. */
  private async settle(jobId: string, next: Next): Promise<void> {
    const cm = this.deps.settlement && this.deps.view.jobs.get(jobId);
    if (!cm) return;
    const result = await this.deps.settlement!.settle(cm);
    if (result.wrote) this.deps.view.jobs.wrote(result.wrote);
    if (result.conflict) throw new Conflict();
    if (result.requeueAfterMs !== undefined) next.after(new Date(Date.now() + result.requeueAfterMs));
  }

  private async withEnvironmentLock(environment: string, fn: () => Promise<void>): Promise<void> {
    const previous = this.envLocks.get(environment) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const chained = previous.then(() => mine);
    this.envLocks.set(environment, chained);
    await previous;
    try {
      await fn();
    } finally {
      release();
      if (this.envLocks.get(environment) === chained) this.envLocks.delete(environment);
    }
  }

  private forgetFailures(jobId: string): void {
    for (const key of this.failingSince.keys()) if (key.startsWith(`${jobId}/`)) this.failingSince.delete(key);
  }

  /** Runs one observation that needs the network; a failure becomes `unreadable`, timed from its first failure. */
  private async observeOrUnreadable<T>(jobId: string, what: string, read: () => Promise<T>): Promise<T | Unreadable> {
    const key = `${jobId}/${what}`;
    try {
      const value = await read();
      this.failingSince.delete(key);
      return value;
    } catch (err) {
      const since = this.failingSince.get(key) ?? new Date();
      this.failingSince.set(key, since);
      const reason = `${what}: ${apiMessage(err)}`;
      this.deps.log.warn('an observation failed; the planner is told', { jobId, what, error: reason });
      return { unreadable: reason, since };
    }
  }

  /** The job as last known (the informer's copy or this engine's newer write); undefined when gone or invalid. */
  private read(jobId: string): JobConfigMap | undefined {
    const cm = this.deps.view.jobs.get(jobId);
    if (!cm) return undefined;
    try {
      return readJobConfigMap(cm);
    } catch (err) {
      if (!(err instanceof InvalidJobConfigMap)) throw err;
      this.deps.log.error('job ConfigMap is invalid; ignoring it', { jobId, error: err.message });
      return undefined;
    }
  }

  private async pass(job: JobConfigMap | undefined, next: Next): Promise<void> {
    if (!job) return;
    const { view, namespace } = this.deps;
    const { workflow } = job;
    const names = jobNames(workflow.jobId);
    const pods: Observed['pods'] = {};
    for (const stage of STAGES) {
      const pod = view.pods.get(names.pods[stage], namespace);
      if (pod) pods[stage] = observePod(pod);
    }
    const phase = stageOfCode(job.status.code);
    let podUnreadable: Unreadable | undefined;
    if (!isFinal(job.status.code) && !job.stopRequestedAt && phase !== 'queued' && !pods[phase]) {
      // The cache has no pod for the stage under way: just created (the cache lags) or vanished. Only the API
      // server can tell, and the planner retries a vanished pod.
      const live = await this.observeOrUnreadable(workflow.jobId, `${phase} pod`, () =>
        this.readPod(names.pods[phase]),
      );
      if (isUnreadable(live)) podUnreadable = live;
      else if (live) pods[phase] = observePod(live);
    }
    const observed: Observed = {
      workflow,
      status: job.status,
      ...(job.settling && { settling: true }),
      stopRequested: Boolean(job.stopRequestedAt),
      pods,
      pvcExists: view.pvcs.get(names.pvc, namespace) !== undefined,
      secretExists: view.secrets.get(names.secret, namespace) !== undefined,
      ...(view.secrets.get(names.outputSecret, namespace) !== undefined && { outputSecretExists: true }),
      now: new Date(),
      environment: findEnvironment(view.environments(), workflow.environment),
      capacity: view.jobs.capacity(workflow.jobId, workflow.environment),
      settings: this.deps.planner,
      ...(podUnreadable && { podUnreadable }),
    };
    if (needsPublishResults(observed))
      observed.publishResults = await this.observeOrUnreadable(workflow.jobId, 'results manifest', () =>
        readResultsManifest(this.deps.store.client, this.deps.store.bucket, workflow.jobId),
      );
    // The plan's clock is read after the last observation, so no failure it is told of started after its `now`.
    observed.now = new Date();
    if (isFinal(job.status.code)) this.forgetFailures(workflow.jobId);
    try {
      await this.executeAll(plan(observed), job, next);
    } catch (err) {
      if (!(err instanceof StatusRefused)) throw err;
      this.deps.log.error("the API server refused the job's status; ending the job", {
        jobId: workflow.jobId,
        error: err.message,
      });
      try {
        await this.executeAll(planStatusRefused(observed, err.message), job, next);
      } catch (again) {
        if (!(again instanceof StatusRefused)) throw again;
        // Retrying cannot help; the next change to the job (or to its pods) looks at it again.
        this.deps.log.error("the API server refused the job's failure status too; leaving the job as it is", {
          jobId: workflow.jobId,
          error: again.message,
        });
      }
    }
  }

  /** The pod as the API server has it now; undefined when there is none. */
  private async readPod(name: string): Promise<V1Pod | undefined> {
    try {
      return await this.deps.api.readNamespacedPod({ name, namespace: this.deps.namespace });
    } catch (err) {
      if (kubeStatus(err) === 404) return undefined;
      throw err;
    }
  }

  /**
   * Carries out a plan in its order, except that a run of object creations (a job's volume and pod) goes out at
   * once: each is idempotent and none needs another to exist first, and a job leaving the queue holds its environment's lock
   * until its status is written.
   */
  private async executeAll(actions: Action[], job: JobConfigMap, next: Next): Promise<void> {
    for (let i = 0; i < actions.length;) {
      let end = i;
      while (end < actions.length && isCreation(actions[end]!)) end++;
      if (end > i) {
        await Promise.all(actions.slice(i, end).map((a) => this.execute(a, job, next)));
        i = end;
      } else {
        await this.execute(actions[i]!, job, next);
        i++;
      }
    }
  }

  private async execute(action: Action, job: JobConfigMap, next: Next): Promise<void> {
    const { api, namespace } = this.deps;
    const names = jobNames(job.workflow.jobId);
    const ref = { name: job.name, uid: job.uid, workflow: job.workflow, namespace };
    switch (action.kind) {
      case 'createPvc':
        return createIdempotent(() =>
          api.createNamespacedPersistentVolumeClaim({ namespace, body: buildPvc(ref, this.deps.pods) }),
        );
      case 'createPod': {
        const create = () =>
          api.createNamespacedPod({ namespace, body: buildStagePod(action.stage, ref, this.deps.pods) });
        if (!action.retry) return createIdempotent(create);
        // A new attempt that finds a pod of its name has not started: the pass saw too old a state.
        try {
          await create();
          return;
        } catch (err) {
          if (kubeStatus(err) === 409) throw new Conflict();
          throw err;
        }
      }
      case 'deletePod': {
        const name = names.pods[action.stage];
        if (!action.uid) return deleteIdempotent(() => api.deleteNamespacedPod({ name, namespace }));
        try {
          await api.deleteNamespacedPod({ name, namespace, body: { preconditions: { uid: action.uid } } });
        } catch (err) {
          // 409: the name now holds a newer pod, which stays.
          const status = kubeStatus(err);
          if (status !== 404 && status !== 409) throw err;
        }
        return;
      }
      case 'deletePvc':
        return deleteIdempotent(() => api.deleteNamespacedPersistentVolumeClaim({ name: names.pvc, namespace }));
      case 'deleteSecret':
        return deleteIdempotent(() => api.deleteNamespacedSecret({ name: names.secret, namespace }));
      case 'deleteOutputSecret':
        return deleteIdempotent(() => api.deleteNamespacedSecret({ name: names.outputSecret, namespace }));
      case 'deleteStoredResults': {
        const removed = await deleteJobResults(this.deps.store.client, this.deps.store.bucket, job.workflow.jobId);
        this.deps.log.info('stored results removed', { jobId: job.workflow.jobId, objects: removed });
        return;
      }
      case 'deleteJob':
        if (action.unsettled)
          this.deps.log.error('deleting a job whose escrow lock was never settled', {
            jobId: job.workflow.jobId,
            heldSeconds: SETTLEMENT_HOLD_SECONDS,
          });
        else this.deps.log.info('retention ended; deleting the job', { jobId: job.workflow.jobId });
        return deleteIdempotent(() =>
          api.deleteNamespacedConfigMap({ name: job.name, namespace, propagationPolicy: 'Background' }),
        );
      case 'recordStatus':
        return this.record(job, action.status, action.event, next);
      case 'wait':
        if (action.until) next.after(action.until);
        return;
    }
  }

  private async record(job: JobConfigMap, status: JobStatus, event: JobEvent, next: Next): Promise<void> {
    const jobId = job.workflow.jobId;
    let updated: V1ConfigMap;
    try {
      updated = await this.deps.api.patchNamespacedConfigMap(
        { name: job.name, namespace: this.deps.namespace, body: statusPatch(status, job.resourceVersion) },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    } catch (err) {
      const status = kubeStatus(err);
      if (status === 409) throw new Conflict();
      if (isPermanentRefusal(status)) throw new StatusRefused(`${status}: ${apiMessage(err)}`);
      throw err;
    }
    // The informer sees this write a watch round trip later; the job index must count it at once.
    next.alsoReconcile(this.deps.view.roomMade(this.deps.view.jobs.wrote(updated)));
    const previous = job.status;
    if (previous.code !== status.code) {
      this.deps.metrics.transitions.inc({ status: String(status.code) });
      this.deps.log.info('job status', {
        jobId,
        from: previous.code,
        to: status.code,
        text: status.text,
        reason: event.reason,
        message: event.message,
      });
    }
    for (const stage of STAGES) this.observeStageDuration(stage, previous, status);
    // Not awaited: the status is the record, and the event must not hold up the next job leaving the queue.
    void this.emitEvent(job, updated, event);
  }

  private observeStageDuration(stage: Stage, before: JobStatus, after: JobStatus): void {
    const done = after.stages[stage];
    if (!done?.finishedAt || before.stages[stage]?.finishedAt) return;
    this.deps.metrics.stageSeconds.observe((Date.parse(done.finishedAt) - Date.parse(done.startedAt)) / 1000, {
      stage,
    });
  }

  private async emitEvent(job: JobConfigMap, cm: V1ConfigMap, event: JobEvent): Promise<void> {
    const now = new Date();
    try {
      await this.deps.api.createNamespacedEvent({
        namespace: this.deps.namespace,
        body: {
          metadata: { name: `${job.name}.${randomBytes(8).toString('hex')}`, namespace: this.deps.namespace },
          involvedObject: {
            apiVersion: 'v1',
            kind: 'ConfigMap',
            name: job.name,
            namespace: this.deps.namespace,
            uid: cm.metadata?.uid,
            resourceVersion: cm.metadata?.resourceVersion,
          },
          reason: event.reason,
          message: event.message,
          type: event.type,
          source: { component: 'c2d-engine' },
          reportingComponent: 'c2d-engine',
          reportingInstance: this.deps.identity,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
    } catch (err) {
      // An event is a courtesy; the status is the record.
      this.deps.log.warn('could not record an event', {
        jobId: job.workflow.jobId,
        reason: event.reason,
        error: (err as Error).message,
      });
    }
  }
}
