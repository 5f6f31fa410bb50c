import { V2_NONCE_MAX_DIGITS } from './command-texts.ts';

/**
 * Which nonces a v2 request may carry. Pure. ocean.js 8.x reads the nonce as a JavaScript number and signs it + 1,
 * so a nonce is a decimal integer without leading zeros, at most Number.MAX_SAFE_INTEGER (16 digits, the bound
 * command-texts.ts relies on), greater than the last one accepted (no replay) and at most MAX_V2_NONCE_STEP above
 * it, so that no request can push an address to the top of the range and lock its owner out.
 *
 * v2 keeps its own counter beside v1's (nonce-store.ts, key V2_NONCE_KEY): v1 nonces are 14 digits from 10^13 up,
 * which ocean.js 8 would sign as-is, but a v2 signature must never be a v1 one (command-texts.ts), so the two APIs'
 * nonces never meet. An address starts v2 at 0; ocean.js then signs 1.
 */
export const V2_NONCE_PATTERN = new RegExp(`^[1-9][0-9]{0,${V2_NONCE_MAX_DIGITS - 1}}$`);
export const V2_NONCE_CEILING = BigInt(Number.MAX_SAFE_INTEGER);
export const MAX_V2_NONCE_STEP = 1_000_000n;
export const V2_NONCE_KEY = 'nonceV2';

/** The nonce an address is at in v2 (what it stored; nothing stored is 0). */
export function effectiveV2Nonce(stored: bigint): bigint {
  return stored < 0n ? 0n : stored;
}

/** Why `nonce` cannot be accepted after `stored`, or undefined when it can. */
export function v2NonceRefusal(nonce: bigint, stored: bigint): string | undefined {
  const current = effectiveV2Nonce(stored);
  if (nonce < 1n || nonce > V2_NONCE_CEILING) return `nonce must be between 1 and ${V2_NONCE_CEILING}`;
  if (nonce <= current) return `nonce ${nonce} is not greater than the last accepted nonce ${current}`;
  if (nonce - current > MAX_V2_NONCE_STEP) {
    return `nonce ${nonce} is more than ${MAX_V2_NONCE_STEP} above the last accepted nonce ${current}`;
  }
  return undefined;
}
