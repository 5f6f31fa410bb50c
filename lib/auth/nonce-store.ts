import { createHash } from 'node:crypto';
import type { CoreV1Api, V1ConfigMap } from '@kubernetes/client-node';
import { unauthorized, unavailable } from '../http/errors.ts';
import { kubeStatus } from '../kube/errors.ts';
import { effectiveNonce, nonceRefusal } from './nonce-policy.ts';

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

function storedNonce(cm: V1ConfigMap | undefined): bigint {
  const value = cm?.data?.nonce;
  return value !== undefined && /^\d+$/.test(value) ? BigInt(value) : 0n;
}

function assertAcceptable(nonce: bigint, stored: bigint): void {
  const refusal = nonceRefusal(nonce, stored);
  if (refusal !== undefined) throw unauthorized(refusal);
}

/**
 * One ConfigMap per address in the system namespace. Writes are compare-and-swap on resourceVersion (create when
 * absent, replace otherwise); a 409 means another writer got there first, so the value is re-read and checked again.
 */
export class KubeNonceStore implements NonceStore {
  constructor(
    private readonly core: CoreV1Api,
    private readonly namespace: string,
  ) {}

  private async read(address: string): Promise<V1ConfigMap | undefined> {
    try {
      return await this.core.readNamespacedConfigMap({ name: nonceObjectName(address), namespace: this.namespace });
    } catch (err) {
      if (isStatus(err, 404)) return undefined;
      throw err;
    }
  }

  async current(address: string): Promise<bigint> {
    return effectiveNonce(storedNonce(await this.read(address)));
  }

  async assertFresh(address: string, nonce: bigint): Promise<void> {
    assertAcceptable(nonce, storedNonce(await this.read(address)));
  }

  async advance(address: string, nonce: bigint): Promise<void> {
    const name = nonceObjectName(address);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const existing = await this.read(address);
      assertAcceptable(nonce, storedNonce(existing));
      const data = { address: address.toLowerCase(), nonce: nonce.toString() };
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
