/**
 * The loop around the reconciler, shaped like controller-runtime's: a work queue keyed by job, in which a key is
 * processed by at most one worker at a time, and a key enqueued while it is being processed is processed again
 * afterwards (once, however often it was enqueued). Processing a key returns what to do next (`ReconcileResult`) and
 * the queue does it: look again after a delay (deadlines, expiry) without polling, look again soon rate limited, or
 * look at other keys. A key whose processing throws is retried with the same per-key exponential backoff.
 */

/** What a reconcile asks of the loop; an empty result means "done until something changes". */
export interface ReconcileResult {
  /** Reconcile this key again after this many milliseconds even if nothing changes (a deadline, an expiry). */
  requeueAfterMs?: number;
  /** Reconcile this key again, after its backoff (a guarded write lost to a concurrent change). */
  requeue?: boolean;
  /** Other keys whose outcome this reconcile changed (a queue it made room in): reconciled next. */
  enqueue?: readonly string[];
}

export interface WorkQueueOptions {
  concurrency: number;
  baseBackoffMs: number;
  maxBackoffMs: number;
  /** Called when a key's processing throws; the key is retried after its backoff. */
  onError?: (key: string, err: unknown, attempt: number) => void;
}

/** setTimeout cannot wait longer than ~24.8 days; a longer wait is re-armed when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class WorkQueue {
  private readonly pending: string[] = [];
  private readonly queued = new Set<string>();
  private readonly active = new Set<string>();
  private readonly dirty = new Set<string>();
  /** Requeues in a row per key (errors and `requeue`), for its backoff; a plain success forgets them. */
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private running = 0;
  private stopped = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly process: (key: string) => Promise<ReconcileResult>,
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

  /** Processes the key after `delayMs` (or earlier if something else enqueues it); the earliest wake-up wins. */
  enqueueAfter(key: string, delayMs: number): void {
    if (this.stopped) return;
    if (delayMs <= 0) return this.enqueue(key);
    const at = Date.now() + delayMs;
    const existing = this.timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(
      () => {
        this.timers.delete(key);
        if (Date.now() < at) this.enqueueAfter(key, at - Date.now());
        else this.enqueue(key);
      },
      Math.min(delayMs, MAX_TIMER_MS),
    );
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  get size(): number {
    return this.pending.length + this.active.size;
  }

  /** Resolves once nothing is pending or running (timers aside). */
  idle(): Promise<void> {
    if (this.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Takes no more work; resolves once the keys being processed are done (their writes made or abandoned). */
  stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
    this.pending.length = 0;
    this.queued.clear();
    return this.idle();
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
      const result = await this.process(key);
      if (result.requeue) this.requeueWithBackoff(key);
      else this.failures.delete(key);
      if (result.requeueAfterMs !== undefined) this.enqueueAfter(key, result.requeueAfterMs);
      for (const other of result.enqueue ?? []) this.enqueue(other);
    } catch (err) {
      this.options.onError?.(key, err, (this.failures.get(key) ?? 0) + 1);
      this.requeueWithBackoff(key);
    } finally {
      this.active.delete(key);
      this.running -= 1;
      if (this.dirty.delete(key)) this.enqueue(key);
      this.pump();
    }
  }

  private requeueWithBackoff(key: string): void {
    const attempt = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, attempt);
    this.enqueueAfter(key, Math.min(this.options.maxBackoffMs, this.options.baseBackoffMs * 2 ** (attempt - 1)));
  }
}
