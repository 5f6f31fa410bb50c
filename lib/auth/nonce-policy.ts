/**
 * Which nonces a signed request may carry. Pure: the stores and functions apply it.
 *
 * A nonce is exactly NONCE_DIGITS decimal digits, the first not 0 (10^13 ≤ n < 10^14). The fixed width is what
 * makes every signed text parse one way only (see signed-texts.ts): ocean.js 3.x concatenates fields without a
 * separator, so with nonces of any width `jobId + "1" + nonce` (a result request for index 1) is also
 * `jobId + ("1" + nonce)` (a request without an index whose nonce is "1" followed by the other). ocean.js signs
 * "the nonce the provider reports + 1", and the provider reports at least NONCE_FLOOR, so it always signs a nonce of
 * that width, whatever an address stored before this rule (older, smaller nonces are read as the floor).
 *
 * A nonce must be greater than the last accepted one (no replay) and at most MAX_NONCE_STEP above it, so no request
 * can move an address to the top of the range and lock its owner out: reaching 10^14 − 1 from the floor takes
 * 9·10^7 requests that the owner signed, each moving the nonce by at most MAX_NONCE_STEP.
 */
export const NONCE_DIGITS = 14;
export const NONCE_FLOOR = 10n ** BigInt(NONCE_DIGITS - 1);
export const NONCE_CEILING = 10n ** BigInt(NONCE_DIGITS) - 1n;
export const MAX_NONCE_STEP = 1_000_000n;
export const NONCE_PATTERN = new RegExp(`^[1-9][0-9]{${NONCE_DIGITS - 1}}$`);

/** The nonce an address is at: what it stored, or the floor when it stored less (or nothing). */
export function effectiveNonce(stored: bigint): bigint {
  return stored < NONCE_FLOOR ? NONCE_FLOOR : stored;
}

/** Why `nonce` cannot be accepted after `stored`, or undefined when it can. */
export function nonceRefusal(nonce: bigint, stored: bigint): string | undefined {
  const current = effectiveNonce(stored);
  if (nonce < NONCE_FLOOR || nonce > NONCE_CEILING) return `nonce must have exactly ${NONCE_DIGITS} digits`;
  if (nonce <= current) return `nonce ${nonce} is not greater than the last accepted nonce ${current}`;
  if (nonce - current > MAX_NONCE_STEP) {
    return `nonce ${nonce} is more than ${MAX_NONCE_STEP} above the last accepted nonce ${current}`;
  }
  return undefined;
}
