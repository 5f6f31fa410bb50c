import { createHash } from 'node:crypto';
import type { CoreV1Api, V1ConfigMap } from '@kubernetes/client-node';
import { unauthorized, unavailable } from '../http/errors.ts';
import { kubeStatus } from '../kube/errors.ts';
import { effectiveNonce, nonceRefusal } from './nonce-policy.ts';
import { effectiveV2Nonce, V2_NONCE_KEY, v2NonceRefusal } from './v2-nonce-policy.ts';

/**
 * Per-address request nonces. A nonce is accepted only as nonce-policy.ts allows: greater than the last accepted one,
 * so a signed request cannot be replayed, and not so far above it that its owner could be locked out.
 */
export interface NonceStore {
  /** The nonce `address` is at (effectiveNonce: at least NONCE_FLOOR), which the next request must exceed. */
  current(address: string): Promise<bigint>;
  /** Throws 401 unless the policy accepts `nonce` now; changes nothing. */
  assertFresh(address: string, nonce: bigint): Promise<void>;
  /**
   * Records `nonce` as accepted. Throws 401 if the policy no longer accepts it, including when a concurrent request
   * (another replica) accepted the same or a higher nonce first.
   */
  advance(address: string, nonce: bigint): Promise<void>;
}

/** One API's nonce counter: where it is kept in the address's ConfigMap and which nonces it accepts. */
export interface NonceScheme {
  key: string;
  effective(stored: bigint): bigint;
  refusal(nonce: bigint, stored: bigint): string | undefined;
}

/** v1 (ocean.js 3.x): nonce-policy.ts. */
export const V1_NONCES: NonceScheme = { key: 'nonce', effective: effectiveNonce, refusal: nonceRefusal };
/** v2 (ocean.js 8.x): v2-nonce-policy.ts, a counter of its own in the same ConfigMap. */
export const V2_NONCES: NonceScheme = { key: V2_NONCE_KEY, effective: effectiveV2Nonce, refusal: v2NonceRefusal };

const NONCE_LABELS = {
  'app.kubernetes.io/part-of': 'c2d',
  'app.kubernetes.io/component': 'nonce',
} as const;

/** The ConfigMap name for an address: a hash, so nothing the caller typed reaches a Kubernetes name. */
function nonceObjectName(address: string): string {
  return `nonce-${createHash('sha256').update(address.toLowerCase()).digest('hex')}`;
}

const MAX_ATTEMPTS = 8;

function isStatus(err: unknown, code: number): boolean {
  return kubeStatus(err) === code;
}

function storedNonce(cm: V1ConfigMap | undefined, key: string): bigint {
  const value = cm?.data?.[key];
  return value !== undefined && /^\d+$/.test(value) ? BigInt(value) : 0n;
}

/**
 * One ConfigMap per address in the system namespace, holding each API's counter under its scheme's key. Writes are
 * compare-and-swap on resourceVersion (create when absent, replace otherwise) and keep the other counter as it is; a
 * 409 means another writer got there first, so the value is re-read and checked again.
 */
export class KubeNonceStore implements NonceStore {
  constructor(
    private readonly core: CoreV1Api,
    private readonly namespace: string,
    private readonly scheme: NonceScheme = V1_NONCES,
  ) {}

  private assertAcceptable(nonce: bigint, cm: V1ConfigMap | undefined): void {
    const refusal = this.scheme.refusal(nonce, storedNonce(cm, this.scheme.key));
    if (refusal !== undefined) throw unauthorized(refusal);
  }

  private async read(address: string): Promise<V1ConfigMap | undefined> {
    try {
      return await this.core.readNamespacedConfigMap({ name: nonceObjectName(address), namespace: this.namespace });
    } catch (err) {
      if (isStatus(err, 404)) return undefined;
      throw err;
    }
  }

  async current(address: string): Promise<bigint> {
    return this.scheme.effective(storedNonce(await this.read(address), this.scheme.key));
  }

  async assertFresh(address: string, nonce: bigint): Promise<void> {
    this.assertAcceptable(nonce, await this.read(address));
  }

  async advance(address: string, nonce: bigint): Promise<void> {
    const name = nonceObjectName(address);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const existing = await this.read(address);
      this.assertAcceptable(nonce, existing);
      const data = { ...existing?.data, address: address.toLowerCase(), [this.scheme.key]: nonce.toString() };
      try {
        if (existing === undefined) {
          await this.core.createNamespacedConfigMap({
            namespace: this.namespace,
            body: { metadata: { name, labels: { ...NONCE_LABELS } }, data },
          });
        } else {
          await this.core.replaceNamespacedConfigMap({
            name,
            namespace: this.namespace,
            body: { ...existing, data },
          });
        }
        return;
      } catch (err) {
        if (!isStatus(err, 409)) throw err;
      }
    }
    throw unavailable('nonce store is contended, retry');
  }
}
