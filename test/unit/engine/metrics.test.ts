import { describe, expect, it } from 'vitest';
import { EngineMetrics } from '../../../engine/metrics.ts';

describe('EngineMetrics', () => {
  it('renders Prometheus text', async () => {
    const m = new EngineMetrics();
    m.jobsByStatus = () =>
      new Map([
        [70, 2],
        [1, 3],
      ]);
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
