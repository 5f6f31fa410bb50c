import { Transaction, type TransactionRequest, type Wallet } from 'ethers';
import { z } from 'zod';
import type { Logger } from '../http/log.ts';
import type { LeaseApi } from '../kube/lease.ts';
import { LeaseMutex } from '../kube/lease-mutex.ts';

/**
 * Every transaction from the provider's key, whoever sends it (each `start` pod locking a job's price, the engine
 * settling or releasing locks), is chosen a nonce, signed and sent while holding one cluster-wide mutex: the Lease
 * `c2d-provider-tx` in the system namespace. Without it two senders read the same pending count and sign the same
 * nonce, and the node refuses one of them.
 *
 * The nonce is the chain's pending count, or the last nonce a holder recorded in the Lease + 1 when that is higher
 * (an RPC endpoint whose backends have not all seen the last transaction yet). A recorded nonce the chain never
 * counts is trusted for RECORDED_NONCE_TRUST_MS from when this process first saw it, no longer: its transaction was
 * dropped, and leaving its nonce unused would hold every later transaction back behind the gap. The record is
 * written after the transaction was sent; a holder that dies between sending and recording left its transaction in
 * the node's pool, which the pending count includes.
 */

export const PROVIDER_TX_LEASE = 'c2d-provider-tx';
/** A holder sends within this; its critical section is a few RPC calls (one bounded by the caller's RPC timeout). */
export const PROVIDER_TX_LEASE_SECONDS = 20;
/** Waiting for the lease: past one lapsed holder's duration, below start's request budget. */
export const PROVIDER_TX_ACQUIRE_TIMEOUT_MS = 30_000;
export const RECORDED_NONCE_TRUST_MS = 30_000;
export const NONCE_ANNOTATION = 'c2d.oceanprotocol.com/provider-tx';

const recordSchema = z.object({
  sender: z.string().regex(/^0x[0-9a-f]{40}$/),
  nonce: z.number().int().min(0),
  tx: z.string().regex(/^0x[0-9a-f]{64}$/),
});
export type RecordedNonce = z.infer<typeof recordSchema>;

export interface PreparedTx {
  hash: string;
  raw: string;
  nonce: number;
}

/** The Lease's record of the last nonce sent, or undefined when absent or unreadable (then the chain decides). */
export function readRecordedNonce(annotations: Readonly<Record<string, string>>): RecordedNonce | undefined {
  const raw = annotations[NONCE_ANNOTATION];
  if (raw === undefined) return undefined;
  try {
    return recordSchema.parse(JSON.parse(raw));
  } catch {
    return undefined;
  }
}

/** The nonce to sign with: see the module comment. `recordSeenForMs`: how long this process has known the record. */
export function chooseNonce(
  pending: number,
  recorded: RecordedNonce | undefined,
  sender: string,
  recordSeenForMs: number,
): number {
  if (!recorded || recorded.sender !== sender.toLowerCase() || recorded.nonce < pending) return pending;
  return recordSeenForMs <= RECORDED_NONCE_TRUST_MS ? recorded.nonce + 1 : pending;
}

export interface ProviderTxOptions {
  /** The provider's key, connected to the chain (its provider's requests bounded by `rpcTimeoutMs`). */
  signer: Wallet;
  chainId: number;
  leases: LeaseApi;
  /** The system namespace, where the Lease lives. */
  namespace: string;
  /** Bound on one JSON-RPC call: a send needs at least this much of the lease left. */
  rpcTimeoutMs: number;
  log?: Logger;
  /** Tests shorten these. */
  leaseDurationSeconds?: number;
  acquireTimeoutMs?: number;
  clock?: () => number;
}

export class ProviderTransactions {
  private readonly mutex: LeaseMutex;
  private readonly clock: () => number;
  /** The last record read from the Lease and when this process first saw it. */
  private seen: { tx: string; at: number } | undefined;

  constructor(private readonly opts: ProviderTxOptions) {
    this.clock = opts.clock ?? (() => performance.now());
    this.mutex = new LeaseMutex({
      api: opts.leases,
      namespace: opts.namespace,
      name: PROVIDER_TX_LEASE,
      leaseDurationSeconds: opts.leaseDurationSeconds ?? PROVIDER_TX_LEASE_SECONDS,
      acquireTimeoutMs: opts.acquireTimeoutMs ?? PROVIDER_TX_ACQUIRE_TIMEOUT_MS,
      clock: this.clock,
      ...(opts.log && { log: opts.log }),
    });
    if (opts.rpcTimeoutMs >= (opts.leaseDurationSeconds ?? PROVIDER_TX_LEASE_SECONDS) * 1000) {
      throw new Error(`the RPC timeout (${opts.rpcTimeoutMs} ms) must be below the provider transaction lease`);
    }
  }

  get address(): string {
    return this.opts.signer.address.toLowerCase();
  }

  /**
   * Signs `request` with the next nonce and sends it, holding the lease. `record`, when given, runs between signing
   * and sending (to keep the signed bytes somewhere durable first); when it returns false nothing is sent and
   * undefined is returned. Throws when the node refuses the transaction.
   */
  async send(
    request: TransactionRequest,
    record?: (tx: PreparedTx) => Promise<boolean>,
  ): Promise<PreparedTx | undefined> {
    const { signer, chainId } = this.opts;
    return this.mutex.withLease(async (held) => {
      const recorded = readRecordedNonce(held.annotations);
      const pending = await this.chain().getTransactionCount(signer.address, 'pending');
      const nonce = chooseNonce(pending, recorded, this.address, this.seenForMs(recorded));
      const populated = await signer.populateTransaction({ ...request, chainId, nonce });
      const raw = await signer.signTransaction(populated);
      const tx: PreparedTx = { hash: Transaction.from(raw).hash!, raw, nonce };
      if (record && !(await record(tx))) return undefined;
      this.assertTimeToSend(held.remainingMs());
      await this.chain().broadcastTransaction(raw);
      held.note({ [NONCE_ANNOTATION]: JSON.stringify({ sender: this.address, nonce, tx: tx.hash }) });
      return tx;
    });
  }

  /**
   * Sends a transaction signed earlier (same bytes, same nonce) again, holding the lease, so no other sender signs
   * its nonce meanwhile. The node already having it, or its nonce being used (mined, or taken by another
   * transaction), is not an error: the caller learns which from the chain.
   */
  async resend(raw: string): Promise<void> {
    await this.mutex.withLease(async (held) => {
      this.assertTimeToSend(held.remainingMs());
      try {
        await this.chain().broadcastTransaction(raw);
      } catch (err) {
        if (!alreadyUsed(err)) throw err;
      }
    });
  }

  private chain() {
    const p = this.opts.signer.provider;
    if (!p) throw new Error('the provider key has no chain connection');
    return p;
  }

  private seenForMs(recorded: RecordedNonce | undefined): number {
    if (!recorded) return 0;
    if (this.seen?.tx !== recorded.tx) this.seen = { tx: recorded.tx, at: this.clock() };
    return this.clock() - this.seen.at;
  }

  /** Sending after the lease lapsed could race the next holder for the same nonce: not sent then. */
  private assertTimeToSend(remainingMs: number): void {
    if (remainingMs < this.opts.rpcTimeoutMs) {
      throw new Error(`the provider transaction lease has ${Math.round(remainingMs)} ms left: not sending`);
    }
  }
}

/** The node's answers to a transaction it has, or whose nonce is spent. */
export function alreadyUsed(err: unknown): boolean {
  const text = ((err as Error).message ?? '').toLowerCase();
  return (
    text.includes('already known') ||
    text.includes('already imported') ||
    text.includes('nonce too low') ||
    (err as { code?: string }).code === 'NONCE_EXPIRED'
  );
}
