import { describe, expect, it } from 'vitest';
import { MAX_V2_NONCE_STEP, V2_NONCE_CEILING, v2NonceRefusal } from '../../../../lib/auth/v2-nonce-policy.ts';

describe('v2 nonce policy', () => {
  it.each([
    ['the first nonce of a new address', 1n, 0n, undefined],
    ['one above the last', 8n, 7n, undefined],
    ['the last again (a replay)', 7n, 7n, /not greater/],
    ['below the last', 3n, 7n, /not greater/],
    ['0', 0n, 0n, /between 1 and/],
    ['the largest step', 7n + MAX_V2_NONCE_STEP, 7n, undefined],
    ['beyond the largest step', 8n + MAX_V2_NONCE_STEP, 7n, /more than/],
    ['beyond 2^53 - 1', V2_NONCE_CEILING + 1n, V2_NONCE_CEILING, /between 1 and/],
  ] as const)('%s', (_what, nonce, stored, refusal) => {
    const answer = v2NonceRefusal(nonce, stored);
    if (refusal === undefined) expect(answer).toBeUndefined();
    else expect(answer).toMatch(refusal);
  });
});
