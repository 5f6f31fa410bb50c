import type { ChildProcess } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  crashAndRestart,
  waitFor,
  withinDeadline,
  withSystemBinaries,
  type ManagedProcess,
} from '../../../devcluster/processes.ts';

describe('waitFor', () => {
  it('ends at its bound even when a check never settles, naming what it waited for', async () => {
    const started = Date.now();
    let aborted = false;
    const hung = (signal: AbortSignal) =>
      new Promise<boolean>(() => signal.addEventListener('abort', () => (aborted = true)));
    await expect(waitFor('a check that hangs', hung, 150, 10)).rejects.toThrow(
      /timed out after 150 ms waiting for a check that hangs: attempt cut at the deadline/,
    );
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(aborted).toBe(true);
  });

  it('names the last state seen when `what` is a function', async () => {
    let seen = 0;
    await expect(
      waitFor(
        () => `the counter to reach 100 (last: ${seen})`,
        async () => ++seen >= 100,
        60,
        20,
      ),
    ).rejects.toThrow(/\(last: [1-9]\d?\)$/);
  });

  it('returns as soon as the check holds', async () => {
    let calls = 0;
    await waitFor('three calls', async () => ++calls === 3, 5_000, 1);
    expect(calls).toBe(3);
  });
});

describe('withinDeadline', () => {
  it('passes the value of work that finishes in time', async () => {
    await expect(withinDeadline(async () => 7, Date.now() + 1_000)).resolves.toBe(7);
  });

  it('rejects work that ignores its signal once the deadline has passed', async () => {
    await expect(withinDeadline(() => new Promise(() => {}), Date.now() + 20)).rejects.toThrow(
      'attempt cut at the deadline',
    );
  });
});

describe('crashAndRestart', () => {
  /** A process that records its signals; `respawn` gives the next one, which exits at once with `exitCode` if set. */
  function fakeProcess(name: string, log: string[], exitCode?: number): ManagedProcess {
    let exit!: (code: number | string) => void;
    const exited = new Promise<number | string>((r) => (exit = r));
    if (exitCode !== undefined) exit(exitCode);
    const child = {
      kill: (signal: string) => {
        log.push(`${name} ${signal}`);
        exit(signal);
        return true;
      },
    } as unknown as ChildProcess;
    return {
      name,
      child,
      logFile: '/nonexistent/log',
      exited,
      stop: async () => undefined,
      respawn: () => {
        log.push(`${name} respawned`);
        return fakeProcess(name, log, exitCode);
      },
    };
  }

  it('kills with SIGKILL, waits down, starts the same command in its place, and resolves once it serves', async () => {
    const log: string[] = [];
    const list = [fakeProcess('etcd', log), fakeProcess('kubelet', log)];
    const old = list[1];
    const before = Date.now();
    let startedAt = 0;
    let checks = 0;
    const next = await crashAndRestart(list, 'kubelet', {
      downMs: 30,
      serving: async (at) => {
        startedAt = at;
        return ++checks === 2;
      },
    });
    expect(log).toEqual(['kubelet SIGKILL', 'kubelet respawned']);
    expect(list[1]).toBe(next);
    expect(next).not.toBe(old);
    // Down for its 30 ms (Date.now and the timer each round to the millisecond).
    expect(startedAt - before).toBeGreaterThanOrEqual(28);
    expect(checks).toBe(2);
  });

  it('fails, naming the part, when the new process exits before it serves', async () => {
    const log: string[] = [];
    const list = [fakeProcess('containerd', log, 1)];
    await expect(crashAndRestart(list, 'containerd', { serving: async () => false, timeoutMs: 5_000 })).rejects.toThrow(
      /containerd exited \(1\) while restarting; the end of \/nonexistent\/log:\n\(no log\)/,
    );
  });

  it('fails on a part that is not in the list', async () => {
    await expect(crashAndRestart([], 'kubelet', { serving: async () => true })).rejects.toThrow(
      'no kubelet to restart',
    );
  });
});

describe('withSystemBinaries', () => {
  it("adds sbin directories a non-login PATH lacks, after the caller's own", () => {
    expect(withSystemBinaries('/work/node_modules/.bin:/usr/bin:/bin')).toBe(
      '/work/node_modules/.bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin',
    );
  });
  it('keeps a PATH that has them as it is, and copes with none', () => {
    expect(withSystemBinaries('/usr/sbin:/usr/bin:/sbin:/usr/local/sbin')).toBe(
      '/usr/sbin:/usr/bin:/sbin:/usr/local/sbin',
    );
    expect(withSystemBinaries(undefined)).toBe('/usr/local/sbin:/usr/sbin:/sbin');
  });
});
