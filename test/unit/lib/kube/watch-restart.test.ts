import { describe, expect, it } from 'vitest';
import { watchRestartDelayMs } from '../../../../lib/kube/watch-restart.ts';

describe('watch restart delay', () => {
  it('starts at half a second, doubles, and stays at 30 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 50].map(watchRestartDelayMs)).toEqual([
      500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000,
    ]);
    expect(watchRestartDelayMs(0)).toBe(500);
  });
});
