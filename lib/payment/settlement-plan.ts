import { billedSeconds, costInTokenUnits } from './pricing.ts';
import type { JobPayment, Settlement, SettlementAction, SettlementOutcome } from './record.ts';

/**
 * The next step of settling a paid job's escrow lock, decided from the job's records and what the chain says now.
 * The lock on chain is the truth: while it exists nothing was paid out, and once it is gone its Claimed or Canceled
 * event says how it ended. A transaction is recorded (signed) before it is sent, so whatever step the engine died
 * at, the next pass either re-sends that same transaction (same hash, same nonce: at most one can be mined) or, once
 * it reverted or its nonce went to another transaction, prepares a new one; a lock can be claimed only once.
 *
 * What a job pays, as ocean-node's claimPayments: a job whose algorithm ran is billed for the time it ran (at least
 * the environment's minimum, at most the duration paid for), capped at the lock. A job that ended before its
 * algorithm started pays nothing. ocean-node leaves such a lock to expire and cancels it with cancelExpiredLocks an
 * hour or more later; here it is released at once by claiming 0 (the contract gives the whole lock back to the
 * payer), and only a lock found already expired is cancelled as expired.
 */

export interface ObservedJob {
  /** Whether the job's status is final. */
  final: boolean;
  /** The algorithm stage's record, when the algorithm started. */
  algorithm?: { startedAt: string; finishedAt?: string | undefined } | undefined;
  dateFinished?: string | undefined;
}

export interface ObservedChain {
  /** The job's lock, while it exists. */
  lock: { amount: bigint; expiry: bigint } | undefined;
  /** The latest block's timestamp (the clock the contract judges expiry by). */
  blockTime: bigint;
  /**
   * What became of the recorded transaction: mined (succeeded or reverted), waiting in the node's pool, unknown to
   * the node with its nonce still free (never sent, or dropped), or replaced (its nonce was used by another one).
   */
  tx?: 'succeeded' | 'reverted' | 'pending' | 'unknown' | 'replaced' | undefined;
  /** How the lock ended, when it is gone (its Claimed or Canceled event). */
  ended?: { kind: 'claimed' | 'cancelled'; amount: bigint; txHash: string } | undefined;
}

export interface SettlementInput {
  job: ObservedJob;
  payment: JobPayment;
  settlement: Settlement | undefined;
  chain: ObservedChain;
  now: Date;
}

export type SettlementStep =
  /** Nothing to do: the job still runs, or its lock is settled and recorded. */
  | { kind: 'none' }
  /** Sign a transaction for `action` and record it (the intent) before sending it. */
  | { kind: 'prepare'; action: SettlementAction; amount: bigint; billedSeconds?: number }
  /** Send the recorded transaction (again: the same bytes), then look again. */
  | { kind: 'send' }
  /** The recorded transaction is in the pool: look again shortly. */
  | { kind: 'wait' }
  /** The lock is gone: record how it ended. */
  | { kind: 'recordOutcome'; outcome: SettlementOutcome };

/** Whether the lock is past its expiry for the contract (`expiry < block.timestamp`). */
export const lockExpired = (chain: ObservedChain): boolean =>
  chain.lock !== undefined && chain.lock.expiry < chain.blockTime;

/** What the job owes for its lock, by the time its algorithm actually ran. */
export function charge(
  job: ObservedJob,
  payment: JobPayment,
  locked: bigint,
): { amount: bigint; billedSeconds?: number } {
  const algo = job.algorithm;
  if (!algo) return { amount: 0n };
  const end = algo.finishedAt ?? job.dateFinished;
  const ranSeconds = end ? Math.max(0, (Date.parse(end) - Date.parse(algo.startedAt)) / 1000) : 0;
  const seconds = billedSeconds(ranSeconds, payment);
  const cost = costInTokenUnits(payment.resources, payment.prices, seconds, payment.decimals);
  return { amount: cost < locked ? cost : locked, billedSeconds: seconds };
}

function outcomeOf(chain: ObservedChain, now: Date): SettlementOutcome {
  const at = now.toISOString();
  const ended = chain.ended;
  if (!ended) return { kind: 'gone', amount: '0', at };
  const kind = ended.kind === 'cancelled' ? 'cancelled' : ended.amount === 0n ? 'released' : 'claimed';
  return { kind, amount: ended.amount.toString(), txHash: ended.txHash, at };
}

function prepare(input: SettlementInput, lock: { amount: bigint; expiry: bigint }): SettlementStep {
  if (lockExpired(input.chain)) return { kind: 'prepare', action: 'cancelExpired', amount: 0n };
  const owed = charge(input.job, input.payment, lock.amount);
  if (owed.amount === 0n) return { kind: 'prepare', action: 'release', amount: 0n };
  return { kind: 'prepare', action: 'claim', amount: owed.amount, billedSeconds: owed.billedSeconds! };
}

export function planSettlement(input: SettlementInput): SettlementStep {
  const { settlement, chain } = input;
  if (settlement?.outcome) return { kind: 'none' };
  if (!input.job.final) return { kind: 'none' };
  if (!chain.lock) return { kind: 'recordOutcome', outcome: outcomeOf(chain, input.now) };
  const intent = settlement?.intent;
  if (!intent) return prepare(input, chain.lock);
  switch (chain.tx) {
    case 'pending':
      return { kind: 'wait' };
    case 'unknown':
      // Sending an expired lock's claim would cancel it anyway; a fresh cancelExpired says so in the record.
      return lockExpired(chain) && intent.action !== 'cancelExpired' ? prepare(input, chain.lock) : { kind: 'send' };
    case 'succeeded':
      // Mined, yet the lock was still read: the read raced the block. Look again.
      return { kind: 'wait' };
    case 'reverted':
    case 'replaced':
    case undefined:
      return prepare(input, chain.lock);
  }
}

/** Whether a paid job is settling (ocean-node's status 71): final, its lock not yet settled and recorded. */
export function isSettling(
  final: boolean,
  payment: JobPayment | undefined,
  settlement: Settlement | undefined,
): boolean {
  return final && payment !== undefined && !settlement?.outcome;
}
