import { describe, expect, it } from 'vitest';
import {
  containerLimits,
  joinGroupsCommand,
  limitWrites,
  oomKills,
  parseQuantity,
} from '../../../devcluster/node/cgroups.ts';

describe('parseQuantity', () => {
  it.each([
    ['1', 1],
    ['250m', 0.25],
    ['1.5', 1.5],
    ['512Mi', 512 * 2 ** 20],
    ['1Gi', 2 ** 30],
    ['2G', 2e9],
    ['1e3', 1000],
    ['100k', 1e5],
  ])('%s → %d', (q, v) => expect(parseQuantity(q)).toBeCloseTo(v));

  it.each(['', 'abc', '1Zi', '--1', '1 Gi'])('refuses %j', (q) => expect(parseQuantity(q)).toBeUndefined());
});

describe('containerLimits', () => {
  it('takes the limits, not the requests', () => {
    expect(
      containerLimits({
        name: 'a',
        resources: { limits: { memory: '1Gi', cpu: '500m' }, requests: { memory: '1Mi' } },
      }),
    ).toEqual({ memoryBytes: 2 ** 30, cpuMillis: 500 });
  });
  it('is empty for a container without limits', () => {
    expect(containerLimits({ name: 'a' })).toEqual({});
  });
});

describe('limitWrites', () => {
  it('writes memory and CFS quota for cgroup v1', () => {
    expect(limitWrites(1, { memoryBytes: 1000, cpuMillis: 250 })).toEqual([
      { controller: 'memory', file: 'memory.limit_in_bytes', value: '1000' },
      { controller: 'memory', file: 'memory.memsw.limit_in_bytes', value: '1000' },
      { controller: 'cpu', file: 'cpu.cfs_period_us', value: '100000' },
      { controller: 'cpu', file: 'cpu.cfs_quota_us', value: '25000' },
    ]);
  });
  it('writes memory.max, no swap and cpu.max for cgroup v2', () => {
    expect(limitWrites(2, { memoryBytes: 1000, cpuMillis: 2000 })).toEqual([
      { controller: 'unified', file: 'memory.max', value: '1000' },
      { controller: 'unified', file: 'memory.swap.max', value: '0' },
      { controller: 'unified', file: 'cpu.max', value: '200000 100000' },
    ]);
  });
  it('never writes a quota under the kernel minimum', () => {
    expect(limitWrites(1, { cpuMillis: 1 }).find((w) => w.file === 'cpu.cfs_quota_us')?.value).toBe('1000');
  });
});

describe('oomKills', () => {
  it('reads the count from memory.oom_control and memory.events', () => {
    expect(oomKills('oom_kill_disable 0\nunder_oom 0\noom_kill 2\n')).toBe(2);
    expect(oomKills('low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n')).toBe(1);
    expect(oomKills('oom_kill_disable 0\n')).toBe(0);
  });
});

describe('joinGroupsCommand', () => {
  it('passes file names and argv as arguments, never inside the script', () => {
    const cmd = joinGroupsCommand(
      ['/sys/fs/cgroup/memory/x/cgroup.procs', "/odd'; rm -rf /"],
      ['bwrap', '--', 'sh', '-c', 'echo $HOME'],
    );
    expect(cmd.slice(0, 2)).toEqual(['/bin/sh', '-c']);
    expect(cmd[2]).not.toContain('cgroup.procs');
    expect(cmd.slice(3)).toEqual([
      'c2d-cgroup-join',
      '/sys/fs/cgroup/memory/x/cgroup.procs',
      "/odd'; rm -rf /",
      '--',
      'bwrap',
      '--',
      'sh',
      '-c',
      'echo $HOME',
    ]);
  });
});
