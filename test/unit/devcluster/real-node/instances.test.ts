import { describe, expect, it } from 'vitest';
import { isStale, processStartTime, type InstanceRecord } from '../../../../devcluster/real-node/instances.ts';

const record = (owner: { pid: number; startTime: string }): InstanceRecord => ({
  id: 'abc',
  owner,
  holder: { pid: 1, startTime: '1' },
  stateDir: '/tmp/x',
  hostLink: 'c2dabc',
  cgroupRoot: 'c2d-kubelet-abc',
});

describe('instance records', () => {
  it('reads a process start time, and none for a process that does not exist', () => {
    expect(processStartTime(process.pid)).toMatch(/^\d+$/);
    expect(processStartTime(process.pid)).toBe(processStartTime(process.pid));
    expect(processStartTime(2 ** 22 + 1)).toBeUndefined();
  });

  it('is stale once its owner is gone, or its pid belongs to a later process', () => {
    const self = { pid: process.pid, startTime: processStartTime(process.pid)! };
    expect(isStale(record(self))).toBe(false);
    expect(isStale(record({ pid: process.pid, startTime: '1' }))).toBe(true);
    expect(isStale(record({ pid: 2 ** 22 + 1, startTime: self.startTime }))).toBe(true);
  });
});
