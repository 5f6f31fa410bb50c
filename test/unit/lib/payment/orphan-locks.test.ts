import { describe, expect, it } from 'vitest';
import { lockKey, planOrphanSweep, type OpenLock, type SweepInput } from '../../../../lib/payment/orphan-locks.ts';

const PAYER = '0x' + 'ab'.repeat(20);
const TOKEN = '0x' + 'a0'.repeat(20);
const lock = (id: number, over: Partial<OpenLock> = {}): OpenLock => ({
  lockId: BigInt(id),
  payer: PAYER,
  token: TOKEN,
  amount: 10n,
  expiry: 5_000n,
  ...over,
});

const input = (over: Partial<SweepInput> = {}): SweepInput => ({
  locks: [],
  owned: new Set(),
  unownedSince: new Map(),
  pending: new Set(),
  now: 100_000,
  blockTime: 1_000n,
  minAgeMs: 60_000,
  maxPerPass: 10,
  ...over,
});

describe('planOrphanSweep', () => {
  it('starts counting a lock without a job, and gives nothing back yet', () => {
    const plan = planOrphanSweep(input({ locks: [lock(1)] }));
    expect(plan.release).toEqual([]);
    expect(plan.unownedSince).toEqual(new Map([[lockKey(lock(1)), 100_000]]));
  });

  it('gives back a lock that has had no job for the bound, by a claim of 0', () => {
    const since = new Map([[lockKey(lock(1)), 40_000]]);
    const plan = planOrphanSweep(input({ locks: [lock(1)], unownedSince: since }));
    expect(plan.release).toEqual([{ lock: lock(1), action: 'release' }]);
  });

  it('cancels it as expired once past its expiry', () => {
    const since = new Map([[lockKey(lock(1)), 0]]);
    const plan = planOrphanSweep(input({ locks: [lock(1, { expiry: 999n })], unownedSince: since }));
    expect(plan.release).toEqual([{ lock: lock(1, { expiry: 999n }), action: 'cancelExpired' }]);
  });

  it('never touches a lock whose job exists, and forgets when it was unowned', () => {
    const since = new Map([[lockKey(lock(1)), 0]]);
    const plan = planOrphanSweep(input({ locks: [lock(1)], owned: new Set(['1']), unownedSince: since }));
    expect(plan.release).toEqual([]);
    expect(plan.unownedSince.size).toBe(0);
  });

  it('waits while its giving back is in the pool', () => {
    const since = new Map([[lockKey(lock(1)), 0]]);
    const plan = planOrphanSweep(
      input({ locks: [lock(1)], unownedSince: since, pending: new Set([lockKey(lock(1))]) }),
    );
    expect(plan.release).toEqual([]);
    expect(plan.unownedSince.get(lockKey(lock(1)))).toBe(0);
  });

  it('gives back at most maxPerPass, oldest first, and keeps counting the others', () => {
    const locks = [lock(1), lock(2), lock(3)];
    const since = new Map([
      [lockKey(lock(1)), 30_000],
      [lockKey(lock(2)), 10_000],
      [lockKey(lock(3)), 20_000],
    ]);
    const plan = planOrphanSweep(input({ locks, unownedSince: since, maxPerPass: 2 }));
    expect(plan.release.map((r) => r.lock.lockId)).toEqual([2n, 3n]);
    expect(plan.unownedSince.size).toBe(3);
  });

  it('forgets locks that are gone', () => {
    const since = new Map([[lockKey(lock(9)), 0]]);
    expect(planOrphanSweep(input({ locks: [], unownedSince: since })).unownedSince.size).toBe(0);
  });

  it('tells apart locks of one id with other payers or tokens', () => {
    const other = lock(1, { payer: '0x' + 'cd'.repeat(20) });
    const since = new Map([[lockKey(lock(1)), 0]]);
    const plan = planOrphanSweep(input({ locks: [lock(1), other], unownedSince: since }));
    expect(plan.release.map((r) => r.lock)).toEqual([lock(1)]);
  });
});
