/**
 * A work queue keyed by job: a key is processed by at most one worker at a time; a key enqueued while it is being
 * processed is processed again afterwards (once, however often it was enqueued); failures retry with exponential
 * backoff; `enqueueAt` wakes a key at a given time (deadlines, expiry) without polling.
 */

export interface WorkQueueOptions {
  concurrency: number;
  baseBackoffMs: number;
  maxBackoffMs: number;
  /** Called when a key's processing throws; the key is retried after a backoff. */
  onError?: (key: string, err: unknown, attempt: number) => void;
}

export class WorkQueue {
  private readonly pending: string[] = [];
  private readonly queued = new Set<string>();
  private readonly active = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private running = 0;
  private stopped = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly process: (key: string) => Promise<void>,
    private readonly options: WorkQueueOptions,
  ) {}

  enqueue(key: string): void {
    if (this.stopped) return;
    if (this.active.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.pending.push(key);
    this.pump();
  }

  /** Processes the key at `at` (or earlier if something else enqueues it); the earliest wake-up wins. */
  enqueueAt(key: string, at: Date): void {
    if (this.stopped) return;
    const delay = at.getTime() - Date.now();
    if (delay <= 0) return this.enqueue(key);
    const existing = this.timers.get(key);
    if (existing && existing.at <= at.getTime()) return;
    if (existing) clearTimeout(existing.timer);
    // setTimeout cannot wait longer than ~24.8 days; a longer wait is re-armed when it fires.
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.enqueue(key);
    }, Math.min(delay, 2 ** 31 - 1));
    timer.unref();
    this.timers.set(key, { at: at.getTime(), timer });
  }

  get size(): number {
    return this.pending.length + this.active.size;
  }

  /** Resolves once nothing is pending or running (timers aside). */
  idle(): Promise<void> {
    if (this.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
    this.pending.length = 0;
    this.queued.clear();
  }

  private pump(): void {
    while (!this.stopped && this.running < this.options.concurrency && this.pending.length > 0) {
      const key = this.pending.shift()!;
      this.queued.delete(key);
      this.active.add(key);
      this.running += 1;
      void this.run(key);
    }
    if (this.size === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private async run(key: string): Promise<void> {
    try {
      await this.process(key);
      this.failures.delete(key);
    } catch (err) {
      const attempt = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, attempt);
      this.options.onError?.(key, err, attempt);
      const backoff = Math.min(this.options.maxBackoffMs, this.options.baseBackoffMs * 2 ** (attempt - 1));
      this.enqueueAt(key, new Date(Date.now() + backoff));
    } finally {
      this.active.delete(key);
      this.running -= 1;
      if (this.dirty.delete(key)) this.enqueue(key);
      this.pump();
    }
  }
}
