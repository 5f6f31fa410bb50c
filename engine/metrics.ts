import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The engine's Prometheus metrics: jobs by status, reconcile latency, stage durations, transitions and errors.
 * Each EngineMetrics has its own registry (no process-wide default), so tests and replicas in one process never share
 * counts.
 */
export class EngineMetrics {
  readonly registry = new Registry();
  readonly reconcileSeconds = new Histogram({
    name: 'c2d_engine_reconcile_duration_seconds',
    help: 'Time to reconcile one job once',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly #stageSeconds = new Histogram({
    name: 'c2d_engine_stage_duration_seconds',
    help: 'Duration of a job stage',
    labelNames: ['stage'] as const,
    buckets: [1, 5, 10, 30, 60, 300, 900, 3600, 14400],
    registers: [this.registry],
  });
  /** Stage durations in seconds, by stage (value first, as the reconciler records them). */
  readonly stageSeconds = {
    observe: (seconds: number, labels: { stage: string }): void => this.#stageSeconds.observe(labels, seconds),
  };
  readonly transitions = new Counter({
    name: 'c2d_engine_transitions_total',
    help: 'Status transitions recorded, by new status code',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  readonly reconcileErrors = new Counter({
    name: 'c2d_engine_reconcile_errors_total',
    help: 'Reconciles that failed and will be retried',
    registers: [this.registry],
  });
  readonly conflicts = new Counter({
    name: 'c2d_engine_conflicts_total',
    help: 'Status writes that lost to a concurrent change (409) and were re-read',
    registers: [this.registry],
  });
  /** Set from outside, read at each scrape: jobs by status code. */
  jobsByStatus: () => Map<number, number> = () => new Map();
  isLeader: () => boolean = () => false;

  constructor() {
    const jobsByStatus = (): Map<number, number> => this.jobsByStatus();
    const isLeader = (): boolean => this.isLeader();
    new Gauge({
      name: 'c2d_engine_jobs',
      help: 'Jobs known to the engine, by status code',
      labelNames: ['status'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [code, count] of [...jobsByStatus()].sort((a, b) => a[0] - b[0]))
          this.set({ status: String(code) }, count);
      },
    });
    new Gauge({
      name: 'c2d_engine_leader',
      help: 'Whether this replica is the active one',
      registers: [this.registry],
      collect() {
        this.set(isLeader() ? 1 : 0);
      },
    });
  }

  /** The exposition's Content-Type. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** The text exposition of every metric. */
  render(): Promise<string> {
    return this.registry.metrics();
  }
}
