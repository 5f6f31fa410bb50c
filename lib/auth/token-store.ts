import { createHash } from 'node:crypto';
import type { CoreV1Api, V1ConfigMap } from '@kubernetes/client-node';
import { conflict, forbidden, unavailable } from '../http/errors.ts';
import { kubeStatus } from '../kube/errors.ts';
import { tokenAddress, tokenDigest, type IssuedToken } from './auth-token.ts';

/** Tokens an address may hold at once (neither revoked nor expired). */
export const MAX_LIVE_TOKENS = 16;

const TOKEN_LABELS = { 'app.kubernetes.io/part-of': 'c2d', 'app.kubernetes.io/component': 'auth-token' } as const;
const ENTRY_PREFIX = 't-';
const MAX_ATTEMPTS = 8;

/** Where v2 auth tokens are recorded, by digest (auth-token.ts: the raw token is never stored). */
export interface TokenStore {
  /** Records a new token of `address`; 409 when the address already holds MAX_LIVE_TOKENS live ones. */
  create(address: string, issued: IssuedToken, now: Date): Promise<void>;
  /** The lower-case address a token acts for, or undefined when it is unknown, revoked or expired. */
  owner(token: string, now: Date): Promise<string | undefined>;
  /** Revokes a token of `address` (403 when it is another address's); an unknown token is left alone. */
  revoke(token: string, address: string): Promise<void>;
}

export interface TokenRecord {
  expiresAt: string;
}

/** Whether a recorded token may act now. Pure. */
export function isLive(rec: TokenRecord | undefined, now: Date): rec is TokenRecord {
  return rec !== undefined && Date.parse(rec.expiresAt) > now.getTime();
}

/** The ConfigMap of an address's tokens: a hash, so nothing the caller typed reaches a Kubernetes name. */
export function tokenObjectName(address: string): string {
  return `authtoken-${createHash('sha256').update(address.toLowerCase()).digest('hex')}`;
}

function entries(cm: V1ConfigMap | undefined): Map<string, TokenRecord> {
  const out = new Map<string, TokenRecord>();
  for (const [key, value] of Object.entries(cm?.data ?? {})) {
    if (!key.startsWith(ENTRY_PREFIX)) continue;
    try {
      const rec = JSON.parse(value) as Partial<TokenRecord>;
      if (typeof rec.expiresAt === 'string') out.set(key.slice(ENTRY_PREFIX.length), { expiresAt: rec.expiresAt });
    } catch {
      // A malformed entry is no token.
    }
  }
  return out;
}

/**
 * One ConfigMap per address (`authtoken-<sha256 of the address>`, in the system namespace, as nonces are kept), one
 * entry per live token under its digest. Every write drops the entries that expired, and revoking removes the entry,
 * so an address's record never holds more than MAX_LIVE_TOKENS entries whatever it does, and no function needs to
 * delete or list anything. Writes are compare-and-swap on resourceVersion, retried after a 409.
 *
 * A token names its address in its payload (auth-token.ts); that only says which record to look in: the token acts
 * only if its digest is recorded there, so a payload naming another address finds nothing.
 */
export class KubeTokenStore implements TokenStore {
  constructor(
    private readonly core: CoreV1Api,
    private readonly namespace: string,
  ) {}

  private async read(address: string): Promise<V1ConfigMap | undefined> {
    try {
      return await this.core.readNamespacedConfigMap({ name: tokenObjectName(address), namespace: this.namespace });
    } catch (err) {
      if (kubeStatus(err) === 404) return undefined;
      throw err;
    }
  }

  /** Rewrites the address's record with `change` applied to its live entries; retried on a concurrent write. */
  private async update(address: string, now: Date, change: (live: Map<string, TokenRecord>) => void): Promise<void> {
    const owner = address.toLowerCase();
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const existing = await this.read(owner);
      const live = new Map([...entries(existing)].filter(([, rec]) => isLive(rec, now)));
      change(live);
      const data: Record<string, string> = { address: owner };
      for (const [digest, rec] of live) data[ENTRY_PREFIX + digest] = JSON.stringify(rec);
      try {
        if (existing === undefined) {
          await this.core.createNamespacedConfigMap({
            namespace: this.namespace,
            body: { metadata: { name: tokenObjectName(owner), labels: { ...TOKEN_LABELS } }, data },
          });
        } else {
          await this.core.replaceNamespacedConfigMap({
            name: tokenObjectName(owner),
            namespace: this.namespace,
            body: { ...existing, data },
          });
        }
        return;
      } catch (err) {
        if (kubeStatus(err) !== 409) throw err;
      }
    }
    throw unavailable('auth token store is contended, retry');
  }

  async create(address: string, issued: IssuedToken, now: Date): Promise<void> {
    await this.update(address, now, (live) => {
      if (live.size >= MAX_LIVE_TOKENS) {
        throw conflict(`address holds ${live.size} live auth tokens already: invalidate one first`);
      }
      live.set(issued.digest, { expiresAt: issued.expiresAt.toISOString() });
    });
  }

  async owner(token: string, now: Date): Promise<string | undefined> {
    const address = tokenAddress(token);
    if (address === undefined) return undefined;
    const rec = entries(await this.read(address)).get(tokenDigest(token));
    return isLive(rec, now) ? address.toLowerCase() : undefined;
  }

  async revoke(token: string, address: string): Promise<void> {
    const named = tokenAddress(token);
    if (named === undefined) return;
    if (named.toLowerCase() !== address.toLowerCase()) throw forbidden('the token belongs to another address');
    const digest = tokenDigest(token);
    if (!entries(await this.read(address)).has(digest)) return;
    await this.update(address, new Date(), (live) => live.delete(digest));
  }
}
