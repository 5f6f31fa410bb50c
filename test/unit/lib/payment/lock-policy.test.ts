import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  escrowLockId,
  lockRefusal,
  refusalFromRevert,
  type EscrowAccount,
  type LockRequest,
} from '../../../../lib/payment/lock-policy.ts';

const TOKEN = '0x' + '1'.repeat(40);
const OTHER_TOKEN = '0x' + '2'.repeat(40);
const req: LockRequest = { token: TOKEN, payee: '0x' + 'a'.repeat(40), amount: 100n, lockSeconds: 600 };
const account = (overrides: Partial<EscrowAccount> = {}): EscrowAccount => ({
  available: 1000n,
  authorization: {
    maxLockedAmount: 500n,
    currentLockedAmount: 0n,
    maxLockSeconds: 3600n,
    maxLockCounts: 3n,
    currentLocks: 0n,
  },
  tokensWithFunds: [TOKEN],
  ...overrides,
});
const auth = (a: Partial<NonNullable<EscrowAccount['authorization']>>): Partial<EscrowAccount> => ({
  authorization: { ...account().authorization!, ...a },
});

describe('lockRefusal', () => {
  it('allows a lock the funds and the authorization cover', () => {
    expect(lockRefusal(account(), req)).toBeUndefined();
    expect(
      lockRefusal(account({ available: 100n, ...auth({ maxLockedAmount: 100n, maxLockSeconds: 600n }) }), req),
    ).toBeUndefined();
  });

  it.each<[string, Partial<EscrowAccount>]>([
    ['insufficientEscrow', { available: 99n }],
    ['wrongToken', { available: 0n, tokensWithFunds: [OTHER_TOKEN] }],
    ['insufficientEscrow', { available: 0n, tokensWithFunds: [] }],
    ['noAuthorization', { authorization: undefined }],
    ['authorizationExpired', auth({ maxLockSeconds: 599n })],
    ['authorizationAmountExceeded', auth({ currentLockedAmount: 401n })],
    ['authorizationLockCountExceeded', auth({ currentLocks: 3n })],
  ])('refuses with %s', (reason, overrides) => {
    expect(lockRefusal(account(overrides), req)?.reason).toBe(reason);
  });

  it('says how much is available and needed', () => {
    expect(lockRefusal(account({ available: 7n }), req)?.message).toBe(
      `insufficient escrow funds: 7 available in ${TOKEN}, the job needs 100`,
    );
  });

  it("reads the contract's revert strings", () => {
    expect(refusalFromRevert('execution reverted: "Payer does not have enough funds"', req)?.reason).toBe(
      'insufficientEscrow',
    );
    expect(refusalFromRevert('Expiry too high', req)?.reason).toBe('authorizationExpired');
    expect(refusalFromRevert('out of gas', req)).toBeUndefined();
  });
});

describe('escrowLockId', () => {
  it("is sha256 of the job id as a uint256 (ocean-node's create256Hash)", () => {
    const id = '0123456789abcdef0123456789abcdef';
    expect(escrowLockId(id)).toBe(BigInt('0x' + createHash('sha256').update(id).digest('hex')));
    expect(escrowLockId(id)).not.toBe(escrowLockId(id + '0'));
  });
});
