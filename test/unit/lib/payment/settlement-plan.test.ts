import { describe, expect, it } from 'vitest';
import type { JobPayment, Settlement } from '../../../../lib/payment/record.ts';
import {
  charge,
  isSettling,
  planSettlement,
  type ObservedChain,
  type ObservedJob,
  type SettlementInput,
} from '../../../../lib/payment/settlement-plan.ts';

const E18 = 10n ** 18n;
const NOW = new Date('2026-01-01T00:10:00.000Z');
const HASH = '0x' + 'ab'.repeat(32);

// 1 cpu at 1 token/min + 2 GB ram at 0.5 token/min: 2 tokens a minute; locked for 10 minutes.
const payment: JobPayment = {
  version: 1,
  chainId: 8996,
  escrow: '0x' + 'e'.repeat(40),
  token: '0x' + '1'.repeat(40),
  payer: '0x' + 'c'.repeat(40),
  payee: '0x' + 'a'.repeat(40),
  lockId: '12345',
  amount: (20n * E18).toString(),
  lockSeconds: 4200,
  lockTx: HASH,
  lockBlock: 10,
  decimals: 18,
  prices: [
    { id: 'cpu', price: 1 },
    { id: 'ram', price: 0.5 },
  ],
  resources: [
    { id: 'cpu', amount: 1 },
    { id: 'ram', amount: 2 },
  ],
  minJobDurationSeconds: 60,
  maxJobDurationSeconds: 600,
};

const ranFor = (seconds: number): ObservedJob => ({
  final: true,
  algorithm: {
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: new Date(Date.parse('2026-01-01T00:00:00.000Z') + seconds * 1000).toISOString(),
  },
});
const neverRan: ObservedJob = { final: true };
const lock = { amount: 20n * E18, expiry: 5000n };
const chain = (overrides: Partial<ObservedChain> = {}): ObservedChain => ({ lock, blockTime: 1000n, ...overrides });
const intent = (overrides: Partial<NonNullable<Settlement['intent']>> = {}): Settlement => ({
  version: 1,
  intent: {
    action: 'claim',
    amount: (4n * E18).toString(),
    billedSeconds: 90,
    tx: { hash: HASH, raw: '0x01', nonce: 3 },
    preparedAt: NOW.toISOString(),
    attempt: 1,
    ...overrides,
  },
});
const input = (overrides: Partial<SettlementInput>): SettlementInput => ({
  job: ranFor(90),
  payment,
  settlement: undefined,
  chain: chain(),
  now: NOW,
  ...overrides,
});

describe('planSettlement', () => {
  it.each<[string, Partial<SettlementInput>, ReturnType<typeof planSettlement>]>([
    ['a running job: nothing yet', { job: { ...ranFor(90), final: false } }, { kind: 'none' }],
    [
      'a job that ran 90 s: claim 2 billed minutes',
      {},
      { kind: 'prepare', action: 'claim', amount: 4n * E18, billedSeconds: 90 },
    ],
    [
      'a job that ran 5 s: billed the 60 s minimum',
      { job: ranFor(5) },
      { kind: 'prepare', action: 'claim', amount: 2n * E18, billedSeconds: 60 },
    ],
    [
      'a job that ran past its paid duration: billed the paid duration only',
      { job: ranFor(5000) },
      { kind: 'prepare', action: 'claim', amount: 20n * E18, billedSeconds: 600 },
    ],
    [
      'a claim is capped at the lock',
      { job: ranFor(600), chain: chain({ lock: { amount: 7n, expiry: 5000n } }) },
      { kind: 'prepare', action: 'claim', amount: 7n, billedSeconds: 600 },
    ],
    [
      'a job that failed before its algorithm: release',
      { job: neverRan },
      { kind: 'prepare', action: 'release', amount: 0n },
    ],
    [
      'an expired lock: cancel it as expired',
      { chain: chain({ blockTime: 5001n }) },
      { kind: 'prepare', action: 'cancelExpired', amount: 0n },
    ],
    [
      'intent recorded, transaction pending: wait',
      { settlement: intent(), chain: chain({ tx: 'pending' }) },
      { kind: 'wait' },
    ],
    [
      'intent recorded, transaction unknown to the node (died before sending): send the same bytes',
      { settlement: intent(), chain: chain({ tx: 'unknown' }) },
      { kind: 'send' },
    ],
    [
      'intent recorded, transaction reverted, lock still there: prepare again',
      { settlement: intent(), chain: chain({ tx: 'reverted' }) },
      { kind: 'prepare', action: 'claim', amount: 4n * E18, billedSeconds: 90 },
    ],
    [
      'intent recorded, nonce taken by another transaction: prepare again',
      { settlement: intent(), chain: chain({ tx: 'replaced' }) },
      { kind: 'prepare', action: 'claim', amount: 4n * E18, billedSeconds: 90 },
    ],
    [
      'intent recorded, never sent, and the lock expired meanwhile: cancel as expired instead',
      { settlement: intent(), chain: chain({ tx: 'unknown', blockTime: 6000n }) },
      { kind: 'prepare', action: 'cancelExpired', amount: 0n },
    ],
    [
      'mined but the lock read raced the block: look again',
      { settlement: intent(), chain: chain({ tx: 'succeeded' }) },
      { kind: 'wait' },
    ],
    [
      'already recorded: nothing',
      {
        settlement: { ...intent(), outcome: { kind: 'claimed', amount: '1', at: NOW.toISOString() } },
        chain: chain({ lock: undefined }),
      },
      { kind: 'none' },
    ],
  ])('%s', (_name, overrides, step) => {
    expect(planSettlement(input(overrides))).toEqual(step);
  });

  it.each<[string, ObservedChain['ended'], string, string]>([
    [
      'claimed by our transaction',
      { kind: 'claimed', amount: 4n * E18, txHash: HASH },
      'claimed',
      (4n * E18).toString(),
    ],
    ['released (claimed 0)', { kind: 'claimed', amount: 0n, txHash: HASH }, 'released', '0'],
    ['cancelled as expired', { kind: 'cancelled', amount: 0n, txHash: HASH }, 'cancelled', '0'],
    ['ended without an event found', undefined, 'gone', '0'],
  ])('lock gone, %s: record the outcome', (_name, ended, kind, amount) => {
    for (const settlement of [undefined, intent()]) {
      const step = planSettlement(input({ settlement, chain: chain({ lock: undefined, tx: 'succeeded', ended }) }));
      expect(step).toEqual({
        kind: 'recordOutcome',
        outcome: { kind, amount, at: NOW.toISOString(), ...(ended && { txHash: HASH }) },
      });
    }
  });

  it('never prepares a second transaction while the recorded one may still be mined', () => {
    for (const tx of ['pending', 'unknown', 'succeeded'] as const) {
      const step = planSettlement(input({ settlement: intent(), chain: chain({ tx }) }));
      expect(step.kind, tx).not.toBe('prepare');
    }
  });

  it('bills a stopped algorithm without finishedAt until the job finished', () => {
    const job: ObservedJob = {
      final: true,
      algorithm: { startedAt: '2026-01-01T00:00:00.000Z' },
      dateFinished: '2026-01-01T00:02:30.000Z',
    };
    expect(charge(job, payment, lock.amount)).toEqual({ amount: 6n * E18, billedSeconds: 150 });
  });
});

describe('isSettling', () => {
  it('is true for a final paid job until its outcome is recorded', () => {
    expect(isSettling(true, payment, undefined)).toBe(true);
    expect(isSettling(true, payment, intent())).toBe(true);
    expect(
      isSettling(true, payment, { version: 1, outcome: { kind: 'gone', amount: '0', at: NOW.toISOString() } }),
    ).toBe(false);
    expect(isSettling(false, payment, undefined)).toBe(false);
    expect(isSettling(true, undefined, undefined)).toBe(false);
  });
});
