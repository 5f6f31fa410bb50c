/**
 * The engine's Prometheus metrics, rendered in the text exposition format: jobs by status, reconcile latency,
 * stage durations, transitions and errors.
 */

type Labels = Record<string, string>;

function labelText(labels: Labels): string {
  const entries = Object.entries(labels);
  if (!entries.length) return '';
  return `{${entries.map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',')}}`;
}

const key = (labels: Labels): string => JSON.stringify(Object.entries(labels).sort());

class Counter {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = key(labels);
    const entry = this.values.get(k) ?? { labels, value: 0 };
    entry.value += by;
    this.values.set(k, entry);
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const { labels, value } of this.values.values()) lines.push(`${this.name}${labelText(labels)} ${value}`);
    return lines.join('\n');
  }
}

class Histogram {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(readonly name: string, readonly help: string, readonly buckets: number[]) {}
  observe(value: number, labels: Labels = {}): void {
    const k = key(labels);
    const s = this.series.get(k) ?? { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
    this.buckets.forEach((b, i) => {
      if (value <= b) s.counts[i]! += 1;
    });
    s.sum += value;
    s.count += 1;
    this.series.set(k, s);
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: String(b) })} ${s.counts[i]}`));
      lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.count}`);
      lines.push(`${this.name}_sum${labelText(s.labels)} ${s.sum}`);
      lines.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return lines.join('\n');
  }
}

export class EngineMetrics {
  readonly reconcileSeconds = new Histogram('c2d_engine_reconcile_duration_seconds', 'Time to reconcile one job once', [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]);
  readonly stageSeconds = new Histogram('c2d_engine_stage_duration_seconds', 'Duration of a job stage', [1, 5, 10, 30, 60, 300, 900, 3600, 14400]);
  readonly transitions = new Counter('c2d_engine_transitions_total', 'Status transitions recorded, by new status code');
  readonly reconcileErrors = new Counter('c2d_engine_reconcile_errors_total', 'Reconciles that failed and will be retried');
  readonly conflicts = new Counter('c2d_engine_conflicts_total', 'Status writes that lost to a concurrent change (409) and were re-read');
  /** Set from outside at render time: jobs by status code. */
  jobsByStatus: () => Map<number, number> = () => new Map();
  isLeader: () => boolean = () => false;

  render(): string {
    const jobs = ['# HELP c2d_engine_jobs Jobs known to the engine, by status code', '# TYPE c2d_engine_jobs gauge'];
    for (const [code, count] of [...this.jobsByStatus()].sort((a, b) => a[0] - b[0])) jobs.push(`c2d_engine_jobs${labelText({ status: String(code) })} ${count}`);
    const leader = ['# HELP c2d_engine_leader Whether this replica is the active one', '# TYPE c2d_engine_leader gauge', `c2d_engine_leader ${this.isLeader() ? 1 : 0}`];
    return [jobs.join('\n'), leader.join('\n'), this.reconcileSeconds.render(), this.stageSeconds.render(), this.transitions.render(), this.reconcileErrors.render(), this.conflicts.render()].join('\n') + '\n';
  }
}
