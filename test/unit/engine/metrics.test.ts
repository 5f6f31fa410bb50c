import { describe, expect, it } from 'vitest';
import { EngineMetrics } from '../../../engine/metrics.ts';

describe('EngineMetrics', () => {
  it('renders Prometheus text', () => {
    const m = new EngineMetrics();
    m.jobsByStatus = () => new Map([[70, 2], [1, 3]]);
    m.reconcileSeconds.observe(0.003);
    m.transitions.inc({ status: '70' });
    const text = m.render();
    expect(text).toContain('c2d_engine_jobs{status="1"} 3');
    expect(text).toContain('c2d_engine_jobs{status="70"} 2');
    expect(text).toContain('c2d_engine_reconcile_duration_seconds_bucket{le="0.005"} 1');
    expect(text).toContain('c2d_engine_reconcile_duration_seconds_count 1');
    expect(text).toContain('c2d_engine_transitions_total{status="70"} 1');
    expect(text).toContain('# TYPE c2d_engine_stage_duration_seconds histogram');
  });
});
