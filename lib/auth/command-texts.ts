/**
 * The v2 API's signed texts, as ocean.js 8.x and ocean-node build them: `address + nonce + command`, the command
 * being ocean-node's protocol command name (src/utils/constants.ts PROTOCOL_COMMANDS). ocean.js 8.6.2's
 * invalidateAuthToken signs `address + nonce` without a command (ocean-node never checks that signature); that bare
 * text is accepted for token invalidation only.
 *
 * Why no v2 text is a v1 text, nor the other way round (v1's texts are in signed-texts.ts): every text is the
 * signer's address followed by a tail, and
 *   - a v2 nonce is 1 to V2_NONCE_MAX_DIGITS decimal digits (v2-nonce-policy.ts), so a v2 tail is either those digits
 *     alone (at most 16 characters) or those digits followed by one of V2_COMMANDS, which are letters only;
 *   - every v1 tail is at least 27 characters long, and ends either in a digit or in "computeStatus".
 * A bare v2 tail is too short to be a v1 tail; a v2 tail with a command ends in that command, and no command of
 * V2_COMMANDS ends in a digit or in "computeStatus", so it is no v1 tail; and a v1 tail is no v2 tail for the same
 * two reasons. Within v2, digits then letters split one way only, so the command (the endpoint) and the nonce are
 * read back unambiguously. test/unit/lib/auth/command-texts.test.ts checks both directions.
 */
export const V2_COMMANDS = {
  start: 'startCompute',
  freeStart: 'freeStartCompute',
  stop: 'stopCompute',
  result: 'getComputeResult',
  logs: 'getComputeStreamableLogs',
  createToken: 'createAuthToken',
  invalidateToken: 'invalidateAuthToken',
} as const;
export type V2Command = (typeof V2_COMMANDS)[keyof typeof V2_COMMANDS];

export const V2_NONCE_MAX_DIGITS = 16;

/** The text a v2 request's signature covers; `command` undefined only for ocean.js 8.6.2's token invalidation. */
export function commandText(address: string, nonce: bigint, command: V2Command | undefined): string {
  return `${address}${nonce}${command ?? ''}`;
}

/** What a v2 tail reads as: its nonce and command, or undefined when it is no v2 tail. */
export function readCommandTail(tail: string): { nonce: bigint; command: V2Command | undefined } | undefined {
  const match = new RegExp(`^([1-9][0-9]{0,${V2_NONCE_MAX_DIGITS - 1}})([A-Za-z]*)$`).exec(tail);
  if (!match) return undefined;
  const command = match[2] === '' ? undefined : Object.values(V2_COMMANDS).find((c) => c === match[2]);
  if (match[2] !== '' && command === undefined) return undefined;
  return { nonce: BigInt(match[1]!), command };
}
