import { afterEach, describe, expect, it, vi } from 'vitest';
import { WorkQueue, type ReconcileResult } from '../../../engine/work-queue.ts';

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));
const OPTIONS = { concurrency: 1, baseBackoffMs: 100, maxBackoffMs: 1_000 };

afterEach(() => {
  vi.useRealTimers();
});

/** A queue whose reconcile of each key answers from `answers` in turn (then `{}`), recording when each key ran. */
function queueAnswering(answers: Record<string, Array<ReconcileResult | Error>>, options = OPTIONS) {
  const runs: Array<[string, number]> = [];
  const errors: number[] = [];
  const start = Date.now();
  const q = new WorkQueue(
    async (key) => {
      runs.push([key, Date.now() - start]);
      const answer = answers[key]?.shift() ?? {};
      if (answer instanceof Error) throw answer;
      return answer;
    },
    { ...options, onError: (_k, _e, attempt) => errors.push(attempt) },
  );
  return { q, runs, errors, at: (key: string) => runs.filter(([k]) => k === key).map(([, t]) => t) };
}

describe('WorkQueue', () => {
  it('never runs a key twice at once, and re-runs it once if enqueued meanwhile', async () => {
    let running = 0;
    let maxRunning = 0;
    const runs: string[] = [];
    const q = new WorkQueue(
      async (key) => {
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        runs.push(key);
        await tick(20);
        running -= 1;
        return {};
      },
      { concurrency: 4, baseBackoffMs: 10, maxBackoffMs: 100 },
    );
    q.enqueue('a');
    await tick();
    q.enqueue('a');
    q.enqueue('a');
    q.enqueue('a');
    await q.idle();
    expect(runs).toEqual(['a', 'a']);
    expect(maxRunning).toBe(1);
  });

  it('runs different keys concurrently up to the limit', async () => {
    let running = 0;
    let maxRunning = 0;
    const q = new WorkQueue(
      async () => {
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        await tick(10);
        running -= 1;
        return {};
      },
      { concurrency: 2, baseBackoffMs: 10, maxBackoffMs: 100 },
    );
    for (const k of ['a', 'b', 'c', 'd']) q.enqueue(k);
    await q.idle();
    expect(maxRunning).toBe(2);
  });

  it('retries a failing key with growing backoff, capped, and forgets the failures once it succeeds', async () => {
    vi.useFakeTimers();
    const boom = new Error('boom');
    const { q, errors, at } = queueAnswering({ a: [boom, boom, boom, boom, boom, {}, boom] });
    q.enqueue('a');
    await vi.advanceTimersByTimeAsync(100 + 200 + 400 + 800 + 1_000);
    expect(at('a')).toEqual([0, 100, 300, 700, 1_500, 2_500]);
    expect(errors).toEqual([1, 2, 3, 4, 5]);
    q.enqueue('a');
    await vi.advanceTimersByTimeAsync(100);
    expect(at('a')).toEqual([0, 100, 300, 700, 1_500, 2_500, 2_500, 2_600]);
    expect(errors).toEqual([1, 2, 3, 4, 5, 1]);
    await q.stop();
  });

  it('looks at a key again after the delay its reconcile asked for, and not before', async () => {
    vi.useFakeTimers();
    const { q, at } = queueAnswering({ a: [{ requeueAfterMs: 5_000 }, { requeueAfterMs: 0 }] });
    q.enqueue('a');
    await vi.advanceTimersByTimeAsync(4_999);
    expect(at('a')).toEqual([0]);
    await vi.advanceTimersByTimeAsync(1);
    // A delay of 0 is "now".
    expect(at('a')).toEqual([0, 5_000, 5_000]);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(at('a')).toHaveLength(3);
  });

  it('keeps the earliest of several wake-ups, and an event in between does not cancel it', async () => {
    vi.useFakeTimers();
    const { q, at } = queueAnswering({});
    q.enqueueAfter('a', 200);
    q.enqueueAfter('a', 30);
    q.enqueueAfter('a', 100);
    await vi.advanceTimersByTimeAsync(10);
    q.enqueue('a');
    await vi.advanceTimersByTimeAsync(300);
    expect(at('a')).toEqual([10, 30]);
  });

  it('requeues a key whose reconcile asks for it after its backoff, without counting an error', async () => {
    vi.useFakeTimers();
    const { q, errors, at } = queueAnswering({ a: [{ requeue: true }, { requeue: true }, {}] });
    q.enqueue('a');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(at('a')).toEqual([0, 100, 300]);
    expect(errors).toEqual([]);
  });

  it('reconciles the other keys a reconcile names, once each', async () => {
    const { q, runs } = queueAnswering({ a: [{ enqueue: ['b', 'c', 'b'] }], c: [{ enqueue: ['a'] }] });
    q.enqueue('a');
    await q.idle();
    expect(runs.map(([k]) => k)).toEqual(['a', 'b', 'c', 'a']);
  });

  it('takes no more work once stopped, and its stop resolves when the key under way is done', async () => {
    let finish: () => void = () => undefined;
    const runs: string[] = [];
    const q = new WorkQueue(async (key) => {
      runs.push(key);
      await new Promise<void>((resolve) => (finish = resolve));
      return {};
    }, OPTIONS);
    q.enqueue('a');
    q.enqueue('b');
    await tick();
    let stopped = false;
    const stopping = q.stop().then(() => (stopped = true));
    q.enqueue('a');
    await tick();
    expect(stopped).toBe(false);
    finish();
    await stopping;
    expect(runs).toEqual(['a']);
  });

  it('runs nothing once stopped, timers included', async () => {
    vi.useFakeTimers();
    const { q, runs } = queueAnswering({ a: [{ requeueAfterMs: 100 }] });
    q.enqueue('a');
    await vi.advanceTimersByTimeAsync(1);
    await q.stop();
    q.enqueue('b');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(runs.map(([k]) => k)).toEqual(['a']);
  });
});
