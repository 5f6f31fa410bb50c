import { describe, expect, it } from 'vitest';
import {
  AUTH_TOKEN_DEFAULT_TTL_SECONDS,
  AUTH_TOKEN_MAX_TTL_SECONDS,
  issueToken,
  tokenDigest,
  tokenAddress,
  tokenFromAuthorization,
} from '../../../../lib/auth/auth-token.ts';
import { isLive } from '../../../../lib/auth/token-store.ts';

const ADDRESS = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const NOW = new Date('2026-12-02T08:00:00Z');

describe('auth tokens', () => {
  // ocean.js 8 reads the address with jsonwebtoken's decode, which takes header.payload.signature in base64url
  // (test/integration/ocean-v8.test.ts starts a job with a token, which ocean.js could only do by decoding it).
  it('are JWTs naming the address, with a random id and an expiry', () => {
    const issued = issueToken(ADDRESS, NOW, undefined)!;
    expect(issued.token).toMatch(/^[A-Za-z0-9\-_]+?\.[A-Za-z0-9\-_]+?\.([A-Za-z0-9\-_]+)?$/);
    const [header, body] = issued.token
      .split('.')
      .slice(0, 2)
      .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()) as unknown);
    expect(header).toEqual({ alg: 'none', typ: 'JWT' });
    const payload = body as { address: string; exp: number; jti: string };
    expect(payload.address).toBe(ADDRESS);
    expect(payload.exp).toBe(NOW.getTime() / 1000 + AUTH_TOKEN_DEFAULT_TTL_SECONDS);
    expect(issued.expiresAt.getTime()).toBe(NOW.getTime() + AUTH_TOKEN_DEFAULT_TTL_SECONDS * 1000);
    expect(String(payload.jti)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(issueToken(ADDRESS, NOW, undefined)!.token).not.toBe(issued.token);
    expect(issued.digest).toBe(tokenDigest(issued.token));
    expect(issued.digest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('last until validUntil (unix ms), never longer than the maximum, and are not issued for the past', () => {
    const in1h = NOW.getTime() + 3_600_000;
    expect(issueToken(ADDRESS, NOW, in1h)!.expiresAt.getTime()).toBe(in1h);
    const inAYear = NOW.getTime() + 365 * 86_400_000;
    expect(issueToken(ADDRESS, NOW, inAYear)!.expiresAt.getTime()).toBe(
      NOW.getTime() + AUTH_TOKEN_MAX_TTL_SECONDS * 1000,
    );
    expect(issueToken(ADDRESS, NOW, NOW.getTime())).toBeUndefined();
  });

  it('are read from Authorization bare (as ocean.js sends them) or as Bearer, and nothing else passes', () => {
    const { token } = issueToken(ADDRESS, NOW, undefined)!;
    expect(tokenFromAuthorization(token)).toBe(token);
    expect(tokenFromAuthorization(`Bearer ${token}`)).toBe(token);
    expect(tokenFromAuthorization(undefined)).toBeUndefined();
    expect(tokenFromAuthorization('not-a-token')).toBeUndefined();
    expect(tokenFromAuthorization(`${token}x.y`)).toBeUndefined();
    expect(tokenFromAuthorization('a'.repeat(2000) + '.b.')).toBeUndefined();
  });

  it('act while recorded and unexpired', () => {
    const rec = { expiresAt: '2026-12-02T09:00:00.000Z' };
    expect(isLive(rec, NOW)).toBe(true);
    expect(isLive(rec, new Date('2026-12-02T09:00:00Z'))).toBe(false);
    expect(isLive(undefined, NOW)).toBe(false);
  });

  it('name the record to look them up in, and nothing else is read from them', () => {
    const { token } = issueToken(ADDRESS, NOW, undefined)!;
    expect(tokenAddress(token)).toBe(ADDRESS);
    const forged = `${token.split('.')[0]}.${Buffer.from(JSON.stringify({ address: 'bob' })).toString('base64url')}.`;
    expect(tokenAddress(forged)).toBeUndefined();
    expect(tokenAddress('x.y.')).toBeUndefined();
  });
});
