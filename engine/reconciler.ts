import { randomBytes } from 'node:crypto';
import { CoreV1Api, PatchStrategy, setHeaderOptions, type V1ConfigMap } from '@kubernetes/client-node';
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
import { capacityFor, needsPublishResults, plan, planStatusRefused, type Action, type JobEvent, type Observed, type PlannerSettings, type QueueEntry } from './planner.ts';

/**
 * One reconcile of one job: observe (from the informers' caches), plan (pure), carry the actions out. A status write
 * that loses to a concurrent change (409) re-reads the ConfigMap and plans again; one the API server refuses for good
 * ends the job (planStatusRefused) rather than being retried forever. The caller (the work queue)
 * guarantees one reconcile per job at a time; jobs leaving the queue are serialised per environment so that
 * two jobs never take the same free slot.
 */

export interface ReconcilerDeps {
  core: CoreV1Api;
  view: ClusterView;
  namespace: string;
  planner: PlannerSettings;
  pods: PodSpecSettings;
  store: { client: S3Client; bucket: string };
  metrics: EngineMetrics;
  log: Logger;
  identity: string;
  /** Asks for another reconcile of a job, now or at a time. */
  wake: (jobId: string, at?: Date) => void;
}

const MAX_CONFLICT_RETRIES = 5;

const isCreation = (a: Action): boolean => a.kind === 'createPvc' || a.kind === 'createPod';

class Conflict extends Error {}
class StatusRefused extends Error {}

export class Reconciler {
  /** What this engine last wrote per job, until the informer's cache has caught up with it. */
  private readonly written = new Map<string, V1ConfigMap>();
  private readonly parsed = new Map<string, { rv: string | undefined; entry: QueueEntry | undefined }>();
  private readonly envLocks = new Map<string, Promise<void>>();

  constructor(private readonly deps: ReconcilerDeps) {}

  async reconcile(jobId: string): Promise<void> {
    const started = performance.now();
    try {
      for (let attempt = 0; ; attempt++) {
        const cm = this.current(jobId);
        if (!cm) {
          this.written.delete(jobId);
          this.parsed.delete(jobId);
          return;
        }
        let job: JobConfigMap;
        try {
          job = readJobConfigMap(cm);
        } catch (err) {
          if (err instanceof InvalidJobConfigMap) {
            this.deps.log.error('job ConfigMap is invalid; ignoring it', { jobId, error: err.message });
            return;
          }
          throw err;
        }
        try {
          const leavingQueue = job.status.code === StatusCode.WarmingUp && !job.stopRequestedAt;
          if (leavingQueue) await this.withEnvironmentLock(job.workflow.environment, () => this.pass(job));
          else await this.pass(job);
          return;
        } catch (err) {
          if (!(err instanceof Conflict) || attempt >= MAX_CONFLICT_RETRIES) throw err;
          this.deps.metrics.conflicts.inc();
          const fresh = await this.deps.core.readNamespacedConfigMap({ name: jobNames(jobId).configMap, namespace: this.deps.namespace }).catch((e: unknown) => {
            if (kubeStatus(e) === 404) return undefined;
            throw e;
          });
          if (fresh) this.written.set(jobId, fresh);
          else return;
        }
      }
    } finally {
      this.deps.metrics.reconcileSeconds.observe((performance.now() - started) / 1000);
    }
  }

  /** Jobs by status code, for the metrics. */
  jobsByStatus(): Map<number, number> {
    const counts = new Map<number, number>();
    for (const e of this.queueEntries()) counts.set(e.code, (counts.get(e.code) ?? 0) + 1);
    return counts;
  }

  /** Every job whose ConfigMap is known, so that a fresh leader can look at each once. */
  knownJobIds(): string[] {
    return this.queueEntries().map((e) => e.jobId);
  }

  /** Queued jobs of an environment (oldest first; not those asked to stop, which their own event wakes). */
  queuedIn(environment: string): string[] {
    return this.queueEntries()
      .filter((e) => e.environment === environment && e.code === StatusCode.WarmingUp && !e.stopRequested)
      .sort((a, b) => Date.parse(a.dateCreated) - Date.parse(b.dateCreated))
      .map((e) => e.jobId);
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

  /** The newest ConfigMap of a job: the cache's, or the one this engine just wrote if the cache is behind. */
  private current(jobId: string): V1ConfigMap | undefined {
    const name = jobNames(jobId).configMap;
    const cached = this.deps.view.configMaps.get(name, this.deps.namespace);
    const mine = this.written.get(jobId);
    if (!mine) return cached;
    if (!cached) {
      // Deleted since we wrote it (the cache saw the delete), or not yet listed: trust the cache only once it has synced.
      return undefined;
    }
    const cachedRv = Number(cached.metadata?.resourceVersion);
    const mineRv = Number(mine.metadata?.resourceVersion);
    if (Number.isFinite(cachedRv) && Number.isFinite(mineRv) && mineRv > cachedRv) return mine;
    this.written.delete(jobId);
    return cached;
  }

  private queueEntries(): QueueEntry[] {
    const entries: QueueEntry[] = [];
    const seen = new Set<string>();
    for (const cached of this.deps.view.configMaps.list(this.deps.namespace)) {
      const name = cached.metadata?.name ?? '';
      const jobId = name.replace(/^c2d-job-/, '');
      seen.add(jobId);
      const cm = this.current(jobId) ?? cached;
      const rv = cm.metadata?.resourceVersion;
      const hit = this.parsed.get(jobId);
      if (hit && hit.rv === rv) {
        if (hit.entry) entries.push(hit.entry);
        continue;
      }
      let entry: QueueEntry | undefined;
      try {
        const job = readJobConfigMap(cm);
        entry = { jobId: job.workflow.jobId, environment: job.workflow.environment, code: job.status.code, dateCreated: job.workflow.dateCreated, stopRequested: Boolean(job.stopRequestedAt) };
      } catch {
        entry = undefined;
      }
      this.parsed.set(jobId, { rv, entry });
      if (entry) entries.push(entry);
    }
    for (const id of this.parsed.keys()) if (!seen.has(id)) this.parsed.delete(id);
    return entries;
  }

  private async pass(job: JobConfigMap): Promise<void> {
    const { view, namespace } = this.deps;
    const { workflow } = job;
    const names = jobNames(workflow.jobId);
    const pods: Observed['pods'] = {};
    for (const stage of STAGES) {
      const pod = view.pods.get(names.pods[stage], namespace);
      if (pod) pods[stage] = observePod(pod);
    }
    const observed: Observed = {
      workflow,
      status: job.status,
      stopRequested: Boolean(job.stopRequestedAt),
      pods,
      pvcExists: view.pvcs.get(names.pvc, namespace) !== undefined,
      secretExists: view.secrets.get(names.secret, namespace) !== undefined,
      now: new Date(),
      environment: findEnvironment(view.environments(), workflow.environment),
      capacity: capacityFor(workflow.jobId, workflow.environment, this.queueEntries()),
      settings: this.deps.planner,
    };
    if (needsPublishResults(observed)) observed.publishResults = await readResultsManifest(this.deps.store.client, this.deps.store.bucket, workflow.jobId);
    try {
      await this.executeAll(plan(observed), job);
    } catch (err) {
      if (!(err instanceof StatusRefused)) throw err;
      this.deps.log.error('the API server refused the job\'s status; ending the job', { jobId: workflow.jobId, error: err.message });
      try {
        await this.executeAll(planStatusRefused(observed, err.message), job);
      } catch (again) {
        if (!(again instanceof StatusRefused)) throw again;
        // Retrying cannot help; the next change to the job (or to its pods) looks at it again.
        this.deps.log.error('the API server refused the job\'s failure status too; leaving the job as it is', { jobId: workflow.jobId, error: again.message });
      }
    }
  }

  /**
   * Carries out a plan in its order, except that a run of object creations (a job's volume and pod) goes out at
   * once: each is idempotent and none needs another to exist first, and a job leaving the queue holds its environment's lock
   * until its status is written.
   */
  private async executeAll(actions: Action[], job: JobConfigMap): Promise<void> {
    for (let i = 0; i < actions.length; ) {
      let end = i;
      while (end < actions.length && isCreation(actions[end]!)) end++;
      if (end > i) {
        await Promise.all(actions.slice(i, end).map((a) => this.execute(a, job)));
        i = end;
      } else {
        await this.execute(actions[i]!, job);
        i++;
      }
    }
  }

  private async execute(action: Action, job: JobConfigMap): Promise<void> {
    const { core, namespace } = this.deps;
    const names = jobNames(job.workflow.jobId);
    const ref = { name: job.name, uid: job.uid, workflow: job.workflow, namespace };
    switch (action.kind) {
      case 'createPvc':
        return createIdempotent(() => core.createNamespacedPersistentVolumeClaim({ namespace, body: buildPvc(ref, this.deps.pods) }));
      case 'createPod':
        return createIdempotent(() => core.createNamespacedPod({ namespace, body: buildStagePod(action.stage, ref, this.deps.pods) }));
      case 'deletePod':
        return deleteIdempotent(() => core.deleteNamespacedPod({ name: names.pods[action.stage], namespace }));
      case 'deletePvc':
        return deleteIdempotent(() => core.deleteNamespacedPersistentVolumeClaim({ name: names.pvc, namespace }));
      case 'deleteSecret':
        return deleteIdempotent(() => core.deleteNamespacedSecret({ name: names.secret, namespace }));
      case 'deleteStoredResults': {
        const removed = await deleteJobResults(this.deps.store.client, this.deps.store.bucket, job.workflow.jobId);
        this.deps.log.info('stored results removed', { jobId: job.workflow.jobId, objects: removed });
        return;
      }
      case 'deleteJob':
        this.deps.log.info('retention ended; deleting the job', { jobId: job.workflow.jobId });
        return deleteIdempotent(() => core.deleteNamespacedConfigMap({ name: job.name, namespace, propagationPolicy: 'Background' }));
      case 'recordStatus':
        return this.record(job, action.status, action.event);
      case 'wait':
        if (action.until) this.deps.wake(job.workflow.jobId, action.until);
        return;
    }
  }

  private async record(job: JobConfigMap, status: JobStatus, event: JobEvent): Promise<void> {
    const jobId = job.workflow.jobId;
    let updated: V1ConfigMap;
    try {
      updated = await this.deps.core.patchNamespacedConfigMap(
        { name: job.name, namespace: this.deps.namespace, body: statusPatch(status, job.resourceVersion) },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    } catch (err) {
      const status = kubeStatus(err);
      if (status === 409) throw new Conflict();
      if (isPermanentRefusal(status)) throw new StatusRefused(`${status}: ${apiMessage(err)}`);
      throw err;
    }
    this.written.set(jobId, updated);
    const previous = job.status;
    if (previous.code !== status.code) {
      this.deps.metrics.transitions.inc({ status: String(status.code) });
      this.deps.log.info('job status', { jobId, from: previous.code, to: status.code, text: status.text, reason: event.reason, message: event.message });
    }
    for (const stage of STAGES) this.observeStageDuration(stage, previous, status);
    // Not awaited: the status is the record, and the event must not hold up the next job leaving the queue.
    void this.emitEvent(job, updated, event);
    // A job that started or ended changes what the queued jobs of its environment may do.
    if (previous.code === StatusCode.WarmingUp || (isFinal(status.code) && !isFinal(previous.code))) {
      for (const queued of this.queueHead(job.workflow.environment)) if (queued !== jobId) this.deps.wake(queued);
    }
  }

  /**
   * The queued jobs of an environment that may now leave the queue: the oldest, as many as it has free slots. Only
   * they are woken when a slot frees up (waking every queued job, each of which then looked at every job, cost
   * O(N²) per transition); the others stay queued and are woken in their turn.
   */
  private queueHead(environment: string): string[] {
    const queued = this.queuedIn(environment);
    const env = findEnvironment(this.deps.view.environments(), environment);
    // An environment that is gone: each queued job must be looked at once to end it.
    if (!env) return queued;
    const { active } = capacityFor('', environment, this.queueEntries());
    return queued.slice(0, Math.max(0, env.maxConcurrentJobs - active));
  }

  private observeStageDuration(stage: Stage, before: JobStatus, after: JobStatus): void {
    const done = after.stages[stage];
    if (!done?.finishedAt || before.stages[stage]?.finishedAt) return;
    this.deps.metrics.stageSeconds.observe((Date.parse(done.finishedAt) - Date.parse(done.startedAt)) / 1000, { stage });
  }

  private async emitEvent(job: JobConfigMap, cm: V1ConfigMap, event: JobEvent): Promise<void> {
    const now = new Date();
    try {
      await this.deps.core.createNamespacedEvent({
        namespace: this.deps.namespace,
        body: {
          metadata: { name: `${job.name}.${randomBytes(8).toString('hex')}`, namespace: this.deps.namespace },
          involvedObject: { apiVersion: 'v1', kind: 'ConfigMap', name: job.name, namespace: this.deps.namespace, uid: cm.metadata?.uid, resourceVersion: cm.metadata?.resourceVersion },
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
      this.deps.log.warn('could not record an event', { jobId: job.workflow.jobId, reason: event.reason, error: (err as Error).message });
    }
  }
}
