import { describe, expect, it } from 'vitest';
import { EngineMetrics } from '../../../engine/metrics.ts';
import { observePod } from '../../../engine/observe.ts';
import { WorkQueue } from '../../../engine/work-queue.ts';

describe('observePod', () => {
  it('reads phase, deletion, exit code and the most telling reason', () => {
    expect(observePod({ status: { phase: 'Running' } })).toEqual({ phase: 'Running', deleting: false });
    expect(observePod({ metadata: { deletionTimestamp: new Date() }, status: { phase: 'Running' } }).deleting).toBe(true);
    expect(
      observePod({ status: { phase: 'Failed', containerStatuses: [{ name: 'a', image: 'i', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode: 3, reason: 'Error' } } }] } }),
    ).toEqual({ phase: 'Failed', deleting: false, exitCode: 3, reason: 'Error' });
    expect(
      observePod({ status: { phase: 'Failed', reason: 'DeadlineExceeded', message: 'too long', containerStatuses: [{ name: 'a', image: 'i', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode: 137, reason: 'Killed' } } }] } }),
    ).toEqual({ phase: 'Failed', deleting: false, exitCode: 137, reason: 'DeadlineExceeded', message: 'too long' });
  });

  it('reports waiting reasons except the ordinary ones, and treats an absent phase as Pending', () => {
    const waiting = (reason: string) => observePod({ status: { containerStatuses: [{ name: 'a', image: 'i', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason, message: 'm' } } }] } });
    expect(waiting('InvalidImageName')).toEqual({ phase: 'Pending', deleting: false, waitingReason: 'InvalidImageName', message: 'm' });
    expect(waiting('ContainerCreating').waitingReason).toBeUndefined();
  });
});

describe('WorkQueue', () => {
  const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

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
      },
      { concurrency: 2, baseBackoffMs: 10, maxBackoffMs: 100 },
    );
    for (const k of ['a', 'b', 'c', 'd']) q.enqueue(k);
    await q.idle();
    expect(maxRunning).toBe(2);
  });

  it('retries failures with growing backoff', async () => {
    const at: number[] = [];
    const errors: number[] = [];
    const q = new WorkQueue(
      async () => {
        at.push(Date.now());
        if (at.length < 3) throw new Error('boom');
      },
      { concurrency: 1, baseBackoffMs: 20, maxBackoffMs: 1000, onError: (_k, _e, attempt) => errors.push(attempt) },
    );
    q.enqueue('a');
    await new Promise((r) => setTimeout(r, 150));
    expect(at).toHaveLength(3);
    expect(errors).toEqual([1, 2]);
    expect(at[2]! - at[1]!).toBeGreaterThanOrEqual(at[1]! - at[0]! - 5);
    q.stop();
  });

  it('wakes a key at a time, keeping the earliest wake-up', async () => {
    const runs: number[] = [];
    const q = new WorkQueue(async () => void runs.push(Date.now()), { concurrency: 1, baseBackoffMs: 10, maxBackoffMs: 100 });
    const start = Date.now();
    q.enqueueAt('a', new Date(start + 200));
    q.enqueueAt('a', new Date(start + 30));
    q.enqueueAt('a', new Date(start + 100));
    await tick(60);
    expect(runs).toHaveLength(1);
    await tick(200);
    expect(runs).toHaveLength(1);
    q.stop();
  });
});

describe('EngineMetrics', () => {
  it('renders Prometheus text', async () => {
    const m = new EngineMetrics();
    m.jobsByStatus = () => new Map([[70, 2], [1, 3]]);
    m.isLeader = () => true;
    m.reconcileSeconds.observe(0.003);
    m.stageSeconds.observe(42, { stage: 'algorithm' });
    m.transitions.inc({ status: '70' });
    m.conflicts.inc();
    const text = await m.render();
    expect(text).toContain('# TYPE c2d_engine_jobs gauge');
    expect(text).toContain('c2d_engine_leader 1');
    expect(text).toContain('# TYPE c2d_engine_transitions_total counter');
    expect(text).toContain('c2d_engine_stage_duration_seconds_bucket{le="60",stage="algorithm"} 1');
    expect(text).toContain('c2d_engine_stage_duration_seconds_bucket{le="30",stage="algorithm"} 0');
    expect(text).toContain('c2d_engine_conflicts_total 1');
    expect(text).toContain('c2d_engine_jobs{status="1"} 3');
    expect(text).toContain('c2d_engine_jobs{status="70"} 2');
    expect(text).toContain('c2d_engine_reconcile_duration_seconds_bucket{le="0.005"} 1');
    expect(text).toContain('c2d_engine_reconcile_duration_seconds_count 1');
    expect(text).toContain('c2d_engine_transitions_total{status="70"} 1');
    expect(text).toContain('# TYPE c2d_engine_stage_duration_seconds histogram');
    // A status no job has any longer is not reported.
    m.jobsByStatus = () => new Map([[70, 5]]);
    const later = await m.render();
    expect(later).toContain('c2d_engine_jobs{status="70"} 5');
    expect(later).not.toContain('c2d_engine_jobs{status="1"}');
  });
});
