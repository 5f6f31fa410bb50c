import type { S3Client } from '@aws-sdk/client-s3';
import type { Logger } from '../lib/http/log.ts';
import { ClusterView, type ClusterViewApi } from './cluster-view.ts';
import { EngineMetrics } from './metrics.ts';
import type { PodSpecSettings } from './pod-specs.ts';
import type { PlannerSettings } from './planner.ts';
import { Reconciler, type ReconcilerApi } from './reconciler.ts';
import type { OrphanSweeper } from './orphan-sweep.ts';
import type { Settler } from './settlement.ts';
import { WorkQueue } from './work-queue.ts';

/**
 * The engine's parts wired together: watches feed a per-job work queue whose worker is the reconciler, and the queue
 * does what each reconcile returns (look again later, look at the queued jobs it made room for). Every job is also
 * looked at again every `resyncPeriodMs` (as controllers resync their informers), so a missed event delays a job by
 * at most that long.
 */
export interface EngineOptions {
  /** CoreV1Api in production (made with a request timeout); the fake API in unit tests. */
  api: ReconcilerApi & ClusterViewApi['core'];
  /** client-node's Watch in production. */
  watch: ClusterViewApi['watch'];
  namespace: string;
  environmentsNamespace: string;
  planner: PlannerSettings;
  pods: PodSpecSettings;
  store: { client: S3Client; bucket: string };
  concurrency: number;
  resyncPeriodMs: number;
  identity: string;
  log: Logger;
  metrics?: EngineMetrics;
  /** Settles paid jobs' escrow locks (engine/settlement.ts); absent when the engine holds no provider key. */
  settlement?: Settler;
  /** Gives back the escrow locks no job settles (engine/orphan-sweep.ts); absent with `settlement`. */
  sweeper?: OrphanSweeper;
}

export class Engine {
  readonly metrics: EngineMetrics;
  private readonly view: ClusterView;
  private readonly queue: WorkQueue;
  private readonly reconciler: Reconciler;
  private started = false;
  private readonly resyncPeriodMs: number;
  private resync: NodeJS.Timeout | undefined;
  private readonly sweeper: OrphanSweeper | undefined;

  constructor(opts: EngineOptions) {
    this.sweeper = opts.sweeper;
    this.metrics = opts.metrics ?? new EngineMetrics();
    this.queue = new WorkQueue((jobId) => this.reconciler.reconcile(jobId), {
      concurrency: opts.concurrency,
      baseBackoffMs: 200,
      maxBackoffMs: 30_000,
      onError: (jobId, err, attempt) => {
        this.metrics.reconcileErrors.inc();
        opts.log.warn('reconcile failed; will retry', {
          jobId,
          attempt,
          error: (err as Error)?.message ?? String(err),
        });
      },
    });
    // Events that arrive before the first full list are dropped: start() looks at every job once listed.
    const enqueue = (jobId: string): void => {
      if (this.started) this.queue.enqueue(jobId);
    };
    this.view = new ClusterView(
      { core: opts.api, watch: opts.watch },
      {
        namespace: opts.namespace,
        environmentsNamespace: opts.environmentsNamespace,
        onJob: enqueue,
        onEnvironments: () => {
          if (this.started) this.enqueueAll();
        },
        log: opts.log,
      },
    );
    this.reconciler = new Reconciler({
      api: opts.api,
      view: this.view,
      namespace: opts.namespace,
      planner: opts.planner,
      pods: opts.pods,
      store: opts.store,
      metrics: this.metrics,
      log: opts.log,
      identity: opts.identity,
      ...(opts.settlement && { settlement: opts.settlement }),
    });
    this.metrics.jobsByStatus = () => this.view.jobs.countsByStatus();
    this.resyncPeriodMs = opts.resyncPeriodMs;
  }

  async start(): Promise<void> {
    await this.view.start();
    this.started = true;
    this.enqueueAll();
    this.resync = setInterval(() => this.enqueueAll(), this.resyncPeriodMs);
    this.resync.unref();
    this.sweeper?.start();
  }

  private enqueueAll(): void {
    for (const id of this.view.jobs.jobIds()) this.queue.enqueue(id);
  }

  /** Resolves when no reconcile is pending or running. */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  /** Stops acting: no reconcile starts, and this resolves once those under way have finished. */
  async stop(): Promise<void> {
    this.started = false;
    clearInterval(this.resync);
    await Promise.all([this.queue.stop(), this.view.stop(), this.sweeper?.stop()]);
  }
}
