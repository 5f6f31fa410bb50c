import { describe, expect, it } from 'vitest';
import { waitFor, withinDeadline } from '../../../devcluster/processes.ts';

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
