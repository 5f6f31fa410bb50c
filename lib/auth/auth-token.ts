import { createHash, randomBytes } from 'node:crypto';

/**
 * v2 auth tokens (ocean-node's `POST /api/services/auth/token`). ocean.js 8.x reads the caller's address out of the
 * token with `jwt.decode` (never verifying it) and sends it back verbatim in the `Authorization` header, so a token
 * is a JWT: its payload names the address and expiry for the client. Its authority is not a signature but an entry
 * under the token's sha256 in its address's record (token-store.ts): 32 random bytes (`jti`) make it unguessable,
 * the entry says until when it acts (revoking removes it), and the raw token is stored nowhere. The JWT is therefore
 * honestly unsigned (`alg: none`); of its payload the provider reads only the address, to find the record.
 */

export const AUTH_TOKEN_DEFAULT_TTL_SECONDS = 24 * 3600;
export const AUTH_TOKEN_MAX_TTL_SECONDS = 30 * 24 * 3600;
const MAX_TOKEN_LENGTH = 1024;
const TOKEN_PATTERN = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.$/;

export interface IssuedToken {
  token: string;
  /** sha256 hex of the token: the only form kept. */
  digest: string;
  expiresAt: Date;
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

export function tokenDigest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * A new token for `address`, valid until `validUntil` (unix milliseconds, as ocean-node takes it) or for the
 * default time, never beyond AUTH_TOKEN_MAX_TTL_SECONDS. Returns undefined for a validUntil not in the future.
 */
export function issueToken(
  address: string,
  now: Date,
  validUntilMs: number | undefined,
  random: (n: number) => Buffer = randomBytes,
): IssuedToken | undefined {
  const max = now.getTime() + AUTH_TOKEN_MAX_TTL_SECONDS * 1000;
  const expiresMs =
    validUntilMs === undefined ? now.getTime() + AUTH_TOKEN_DEFAULT_TTL_SECONDS * 1000 : Math.min(validUntilMs, max);
  if (expiresMs <= now.getTime()) return undefined;
  const payload = {
    address,
    createdAt: now.getTime(),
    exp: Math.floor(expiresMs / 1000),
    jti: random(32).toString('base64url'),
  };
  const token = `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url(payload)}.`;
  return { token, digest: tokenDigest(token), expiresAt: new Date(expiresMs) };
}

/** The token an `Authorization` header carries (bare, as ocean.js sends it, or `Bearer …`), if it can be one. */
export function tokenFromAuthorization(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const token = header.replace(/^Bearer\s+/i, '').trim();
  return token.length <= MAX_TOKEN_LENGTH && TOKEN_PATTERN.test(token) ? token : undefined;
}

/**
 * The address a token's payload names (which record to look it up in), or undefined when the token cannot be one
 * of ours. Not proof of anything: the record decides (token-store.ts).
 */
export function tokenAddress(token: string): string | undefined {
  if (!TOKEN_PATTERN.test(token) || token.length > MAX_TOKEN_LENGTH) return undefined;
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as {
      address?: unknown;
    };
    return typeof payload.address === 'string' && /^0x[0-9a-fA-F]{40}$/.test(payload.address)
      ? payload.address
      : undefined;
  } catch {
    return undefined;
  }
}
