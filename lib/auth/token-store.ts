import type { CoreV1Api, V1ConfigMap } from '@kubernetes/client-node';
import { conflict, forbidden } from '../http/errors.ts';
import { kubeStatus } from '../kube/errors.ts';
import { tokenDigest, type IssuedToken } from './auth-token.ts';

/** Tokens an address may hold at once (neither revoked nor expired): each is an object in the system namespace. */
export const MAX_LIVE_TOKENS = 16;

export const TOKEN_OWNER_LABEL = 'c2d.oceanprotocol.com/token-owner';
const TOKEN_LABELS = { 'app.kubernetes.io/part-of': 'c2d', 'app.kubernetes.io/component': 'auth-token' } as const;

/** Where v2 auth tokens are recorded, by digest (auth-token.ts: the raw token is never stored). */
export interface TokenStore {
  /** Records a new token of `address`; 409 when the address already holds MAX_LIVE_TOKENS live ones. */
  create(address: string, issued: IssuedToken, now: Date): Promise<void>;
  /** The lower-case address a token acts for, or undefined when it is unknown, revoked or expired. */
  owner(token: string, now: Date): Promise<string | undefined>;
  /** Revokes a token of `address` (403 when it is another address's); an unknown token is left alone. */
  revoke(token: string, address: string): Promise<void>;
}

interface TokenRecord {
  address: string;
  expiresAt: string;
  revoked: boolean;
}

export function tokenObjectName(digest: string): string {
  return `authtoken-${digest}`;
}

function record(cm: V1ConfigMap): TokenRecord | undefined {
  const d = cm.data;
  if (!d?.address || !d.expiresAt) return undefined;
  return { address: d.address, expiresAt: d.expiresAt, revoked: d.revoked === 'true' };
}

/** Whether a recorded token may act now. Pure. */
export function isLive(rec: TokenRecord | undefined, now: Date): rec is TokenRecord {
  return rec !== undefined && !rec.revoked && Date.parse(rec.expiresAt) > now.getTime();
}

/** One ConfigMap per token, `authtoken-<sha256 hex>`, in the system namespace, labelled with its owner. */
export class KubeTokenStore implements TokenStore {
  constructor(
    private readonly core: CoreV1Api,
    private readonly namespace: string,
  ) {}

  private async read(digest: string): Promise<V1ConfigMap | undefined> {
    try {
      return await this.core.readNamespacedConfigMap({ name: tokenObjectName(digest), namespace: this.namespace });
    } catch (err) {
      if (kubeStatus(err) === 404) return undefined;
      throw err;
    }
  }

  async create(address: string, issued: IssuedToken, now: Date): Promise<void> {
    const owner = address.toLowerCase();
    const held = await this.core.listNamespacedConfigMap({
      namespace: this.namespace,
      labelSelector: `${TOKEN_OWNER_LABEL}=${owner}`,
    });
    const live = held.items.filter((cm) => isLive(record(cm), now)).length;
    if (live >= MAX_LIVE_TOKENS) {
      throw conflict(`address holds ${live} live auth tokens already: invalidate one first`);
    }
    await this.core.createNamespacedConfigMap({
      namespace: this.namespace,
      body: {
        metadata: { name: tokenObjectName(issued.digest), labels: { ...TOKEN_LABELS, [TOKEN_OWNER_LABEL]: owner } },
        data: { address: owner, expiresAt: issued.expiresAt.toISOString(), revoked: 'false' },
      },
    });
  }

  async owner(token: string, now: Date): Promise<string | undefined> {
    const cm = await this.read(tokenDigest(token));
    const rec = cm && record(cm);
    return isLive(rec, now) ? rec.address : undefined;
  }

  async revoke(token: string, address: string): Promise<void> {
    const cm = await this.read(tokenDigest(token));
    const rec = cm && record(cm);
    if (!cm || !rec || rec.revoked) return;
    if (rec.address !== address.toLowerCase()) throw forbidden('the token belongs to another address');
    try {
      // Guarded by the resourceVersion read: a concurrent revocation makes this 409, and the token is revoked anyway.
      await this.core.replaceNamespacedConfigMap({
        name: cm.metadata!.name!,
        namespace: this.namespace,
        body: { ...cm, data: { ...cm.data, revoked: 'true' } },
      });
    } catch (err) {
      if (kubeStatus(err) !== 409) throw err;
    }
  }
}
