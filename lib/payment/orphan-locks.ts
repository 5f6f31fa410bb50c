/**
 * Escrow locks no job will settle, and which of them to give back now. A lock is made by `start` before its job's
 * ConfigMap exists, and a job's settlement (engine/settlement.ts) is what ends its lock, so a lock outlives every
 * job that could settle it when start dies between the lock and the job, when a job withdrawn after locking (an order
 * taken over) could not give its lock back, or when a job was deleted unsettled (SETTLEMENT_HOLD_SECONDS). The
 * contract keeps every lock per payee, so the engine lists the provider's locks, and a lock whose id is no existing
 * job's (sha256 of the job id, lock-policy.ts escrowLockId) for `minAgeMs` on this engine's clock is an orphan:
 * released at once (a claim of 0 gives it all back to the payer), or cancelled as expired.
 *
 * The bound is counted from when this engine first saw the lock without a job, never from a clock on the chain, and
 * is well above how long a start may take between its lock and its job (start's request timeout), so a lock whose
 * job is being created is never taken for an orphan. A restarted engine starts counting again: it only waits longer.
 * Nothing is recorded: the chain is the truth, and a lock released twice just makes the second transaction revert.
 */

export interface OpenLock {
  /** The lock's job id on chain (sha256 of our job id). */
  lockId: bigint;
  payer: string;
  token: string;
  amount: bigint;
  /** When it expires (the contract's block timestamp). */
  expiry: bigint;
}

export interface SweepInput {
  /** The provider's open locks. */
  locks: readonly OpenLock[];
  /** Lock ids (decimal) of the jobs that exist and have not recorded how their lock ended. */
  owned: ReadonlySet<string>;
  /** When (this engine's clock, ms) each unowned lock was first seen so, by lockKey. */
  unownedSince: ReadonlyMap<string, number>;
  /** Locks whose giving back was sent and is still in the node's pool, by lockKey. */
  pending: ReadonlySet<string>;
  now: number;
  /** The latest block's timestamp. */
  blockTime: bigint;
  minAgeMs: number;
  /** At most this many transactions per pass. */
  maxPerPass: number;
}

export interface OrphanRelease {
  lock: OpenLock;
  /** release: claim 0, all back to the payer; cancelExpired: the lock is past its expiry. */
  action: 'release' | 'cancelExpired';
}

export interface SweepPlan {
  release: OrphanRelease[];
  /** The next `unownedSince`: the unowned locks still open, and nothing else (so it stays bounded). */
  unownedSince: Map<string, number>;
}

export const lockKey = (lock: Pick<OpenLock, 'lockId' | 'payer' | 'token'>): string =>
  `${lock.lockId}:${lock.payer.toLowerCase()}:${lock.token.toLowerCase()}`;

export function planOrphanSweep(input: SweepInput): SweepPlan {
  const unownedSince = new Map<string, number>();
  const due: Array<{ lock: OpenLock; since: number }> = [];
  for (const lock of input.locks) {
    if (input.owned.has(lock.lockId.toString())) continue;
    const key = lockKey(lock);
    const since = input.unownedSince.get(key) ?? input.now;
    unownedSince.set(key, since);
    if (input.now - since >= input.minAgeMs && !input.pending.has(key)) due.push({ lock, since });
  }
  const release = due
    .sort((a, b) => a.since - b.since)
    .slice(0, Math.max(0, input.maxPerPass))
    .map(({ lock }): OrphanRelease => ({ lock, action: lock.expiry < input.blockTime ? 'cancelExpired' : 'release' }));
  return { release, unownedSince };
}
