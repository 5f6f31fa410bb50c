import { describe, expect, it } from 'vitest';
import {
  MAX_NONCE_STEP,
  NONCE_CEILING,
  NONCE_FLOOR,
  effectiveNonce,
  nonceRefusal,
} from '../../../../lib/auth/nonce-policy.ts';

describe('nonce policy', () => {
  it('reads an address that stored nothing, or a nonce from before the floor, as at the floor', () => {
    expect(effectiveNonce(0n)).toBe(NONCE_FLOOR);
    expect(effectiveNonce(41n)).toBe(NONCE_FLOOR);
    expect(effectiveNonce(NONCE_FLOOR + 9n)).toBe(NONCE_FLOOR + 9n);
  });

  it.each([
    ['the next nonce', NONCE_FLOOR + 1n, 0n, undefined],
    ['the next after an old small nonce', NONCE_FLOOR + 1n, 17n, undefined],
    ['a jump of the largest step', NONCE_FLOOR + MAX_NONCE_STEP, 0n, undefined],
    ['the same nonce again', NONCE_FLOOR + 5n, NONCE_FLOOR + 5n, 'not greater'],
    ['an older nonce', NONCE_FLOOR + 4n, NONCE_FLOOR + 5n, 'not greater'],
    ['the floor itself', NONCE_FLOOR, 0n, 'not greater'],
    ['a jump past the largest step', NONCE_FLOOR + MAX_NONCE_STEP + 1n, 0n, 'more than'],
    ['the ceiling from the floor (a lock-out)', NONCE_CEILING, 0n, 'more than'],
    ['a nonce of 15 digits', NONCE_CEILING + 1n, 0n, 'exactly 14 digits'],
    ['a nonce of 13 digits', NONCE_FLOOR - 1n, 0n, 'exactly 14 digits'],
  ])('%s: %s after %s', (_what, nonce, stored, refusal) => {
    const reason = nonceRefusal(nonce, stored);
    if (refusal === undefined) expect(reason).toBeUndefined();
    else expect(reason).toContain(refusal);
  });

  it('always leaves its owner a next nonce: from any nonce the policy accepted, the next one is accepted', () => {
    for (const stored of [0n, NONCE_FLOOR, NONCE_FLOOR + 123_456_789n, NONCE_CEILING - 1n]) {
      expect(nonceRefusal(effectiveNonce(stored) + 1n, stored)).toBeUndefined();
    }
  });
});
