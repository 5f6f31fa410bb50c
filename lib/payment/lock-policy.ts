import { createHash } from 'node:crypto';

/**
 * Whether a consumer's escrow account lets the provider lock a job's price, decided before sending createLock (the
 * contract's own checks, in `_createLock`, answer only with a revert string): funds available in that token, an
 * authorization for this payee in that token, room under its maxLockedAmount and maxLockCounts, and a maxLockSeconds
 * that covers the lock's lifetime.
 */

/** The lock's id on chain for a job: sha256 of the job id as a uint256 (ocean-node's create256Hash). */
export function escrowLockId(jobId: string): bigint {
  return BigInt('0x' + createHash('sha256').update(jobId).digest('hex'));
}

/** What the Escrow contract's getAuthorizations returns for one payee. */
export interface EscrowAuthorization {
  maxLockedAmount: bigint;
  currentLockedAmount: bigint;
  maxLockSeconds: bigint;
  maxLockCounts: bigint;
  currentLocks: bigint;
}

export interface EscrowAccount {
  /** The payer's funds in the token that are not locked. */
  available: bigint;
  /** The payer's authorization of this payee in the token, if any. */
  authorization: EscrowAuthorization | undefined;
  /** Tokens the payer holds escrow funds in (to say "wrong token" rather than "no funds"). */
  tokensWithFunds: string[];
}

export type RefusalReason =
  | 'insufficientEscrow'
  | 'wrongToken'
  | 'noAuthorization'
  | 'authorizationExpired'
  | 'authorizationAmountExceeded'
  | 'authorizationLockCountExceeded';

/** Why the job's price cannot be locked; `message` is for the consumer. */
export class PaymentRefused extends Error {
  constructor(
    readonly reason: RefusalReason,
    message: string,
  ) {
    super(message);
  }
}

export interface LockRequest {
  token: string;
  payee: string;
  amount: bigint;
  lockSeconds: number;
}

/** The refusal, or undefined when the lock may be created. */
export function lockRefusal(account: EscrowAccount, req: LockRequest): PaymentRefused | undefined {
  const token = req.token.toLowerCase();
  if (account.available < req.amount) {
    const others = account.tokensWithFunds.filter((t) => t.toLowerCase() !== token);
    if (account.available === 0n && others.length > 0) {
      return new PaymentRefused(
        'wrongToken',
        `escrow funds are in ${others.join(', ')}, but this job is paid in ${req.token}`,
      );
    }
    return new PaymentRefused(
      'insufficientEscrow',
      `insufficient escrow funds: ${account.available} available in ${req.token}, the job needs ${req.amount}`,
    );
  }
  const auth = account.authorization;
  if (!auth) {
    return new PaymentRefused('noAuthorization', `no escrow authorization for payee ${req.payee} in ${req.token}`);
  }
  if (auth.maxLockSeconds < BigInt(req.lockSeconds)) {
    return new PaymentRefused(
      'authorizationExpired',
      `the escrow authorization for ${req.payee} allows locks of ${auth.maxLockSeconds} s; this job needs ${req.lockSeconds} s`,
    );
  }
  if (auth.currentLockedAmount + req.amount > auth.maxLockedAmount) {
    return new PaymentRefused(
      'authorizationAmountExceeded',
      `the escrow authorization for ${req.payee} allows ${auth.maxLockedAmount} locked, ${auth.currentLockedAmount} ` +
        `already is; this job needs ${req.amount}`,
    );
  }
  if (auth.currentLocks + 1n > auth.maxLockCounts) {
    return new PaymentRefused(
      'authorizationLockCountExceeded',
      `the escrow authorization for ${req.payee} allows ${auth.maxLockCounts} locks, ${auth.currentLocks} are held`,
    );
  }
  return undefined;
}

/** The refusal a createLock revert string stands for (another lock may have used the room in between). */
export function refusalFromRevert(revert: string, req: LockRequest): PaymentRefused | undefined {
  const map: Array<[string, RefusalReason, string]> = [
    ['Payer does not have enough funds', 'insufficientEscrow', 'insufficient escrow funds'],
    ['No auth found', 'noAuthorization', `no escrow authorization for payee ${req.payee}`],
    ['Expiry too high', 'authorizationExpired', `the escrow authorization does not allow a ${req.lockSeconds} s lock`],
    ['Exceeds maxLockedAmount', 'authorizationAmountExceeded', 'the escrow authorization’s maxLockedAmount is reached'],
    ['Exceeds maxLockCounts', 'authorizationLockCountExceeded', 'the escrow authorization’s maxLockCounts is reached'],
  ];
  const hit = map.find(([text]) => revert.includes(text));
  return hit ? new PaymentRefused(hit[1], hit[2]) : undefined;
}
