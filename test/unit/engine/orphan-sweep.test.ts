import { describe, expect, it } from 'vitest';
import { OrphanSweeper } from '../../../engine/orphan-sweep.ts';
import type { OrphanLockChain } from '../../../lib/payment/escrow.ts';
import { escrowLockId } from '../../../lib/payment/lock-policy.ts';
import type { OpenLock, OrphanRelease } from '../../../lib/payment/orphan-locks.ts';
import { FakeKubeApi } from '../../support/fake-kube-api.ts';
import { jobConfigMap, nthJobId, paidJobConfigMap } from '../../support/job-fixtures.ts';
import { silentLogger } from '../../support/silent-logger.ts';

const NS = 'c2d-jobs';
const PAYER = '0x' + 'ab'.repeat(20);
const TOKEN = '0x' + 'a0'.repeat(20);
const lockOf = (jobId: string): OpenLock => ({
  lockId: escrowLockId(jobId),
  payer: PAYER,
  token: TOKEN,
  amount: 10n,
  expiry: 10_000n,
});

class FakeChain implements OrphanLockChain {
  locks: OpenLock[] = [];
  readonly released: OrphanRelease[] = [];
  inPool = new Set<string>();
  failNext = false;
  openLocks() {
    return Promise.resolve({ locks: [...this.locks], blockTime: 1_000n });
  }
  release(r: OrphanRelease): Promise<string> {
    if (this.failNext) {
      this.failNext = false;
      return Promise.reject(new Error('node refused it'));
    }
    this.released.push(r);
    const hash = `0x${this.released.length}`;
    this.inPool.add(hash);
    return Promise.resolve(hash);
  }
  pending(hash: string): Promise<boolean> {
    return Promise.resolve(this.inPool.has(hash));
  }
}

function setup() {
  const api = new FakeKubeApi();
  const chain = new FakeChain();
  let now = 0;
  const sweeper = new OrphanSweeper({
    chain,
    api,
    namespace: NS,
    log: silentLogger,
    minAgeMs: 60_000,
    intervalMs: 1_000,
    maxPerPass: 2,
    clock: () => now,
  });
  return { api, chain, sweeper, advance: (ms: number) => (now += ms) };
}

describe('OrphanSweeper', () => {
  it("gives back a lock whose job never existed once it has had none for the bound, and not a live job's lock", async () => {
    const { api, chain, sweeper, advance } = setup();
    api.put('configmaps', paidJobConfigMap(jobConfigMap(1, 40, { namespace: NS })));
    const orphan = lockOf(nthJobId(99));
    chain.locks = [lockOf(nthJobId(1)), orphan];
    expect(await sweeper.pass()).toBe(0);
    advance(59_999);
    expect(await sweeper.pass()).toBe(0);
    advance(1);
    expect(await sweeper.pass()).toBe(1);
    expect(chain.released).toEqual([{ lock: orphan, action: 'release' }]);
    // While its transaction is in the pool it is not sent again; once mined the lock is gone.
    expect(await sweeper.pass()).toBe(0);
    chain.locks = [lockOf(nthJobId(1))];
    expect(await sweeper.pass()).toBe(0);
    expect(chain.released).toHaveLength(1);
  });

  it("takes a settled job's lock that is somehow still open for an orphan", async () => {
    const { api, chain, sweeper, advance } = setup();
    api.put('configmaps', paidJobConfigMap(jobConfigMap(1, 70, { namespace: NS }), 'claimed'));
    chain.locks = [lockOf(nthJobId(1))];
    await sweeper.pass();
    advance(60_000);
    expect(await sweeper.pass()).toBe(1);
  });

  it('sends again when its transaction left the pool unmined, and goes on past a refused one', async () => {
    const { chain, sweeper, advance } = setup();
    chain.locks = [lockOf(nthJobId(7)), lockOf(nthJobId(8))];
    await sweeper.pass();
    advance(60_000);
    chain.failNext = true;
    expect(await sweeper.pass()).toBe(1);
    chain.inPool.clear();
    expect(await sweeper.pass()).toBe(2);
    expect(chain.released.map((r) => r.lock.lockId)).toEqual([
      escrowLockId(nthJobId(8)),
      escrowLockId(nthJobId(7)),
      escrowLockId(nthJobId(8)),
    ]);
  });

  it('lists no jobs while the provider has no locks', async () => {
    const { api, sweeper } = setup();
    expect(await sweeper.pass()).toBe(0);
    expect(api.calls.filter((c) => c.startsWith('listNamespacedConfigMap'))).toEqual([]);
  });
});

describe('OrphanSweeper.start', () => {
  it('sweeps at once, and no more once stopped', async () => {
    const { chain, sweeper } = setup();
    let passes = 0;
    const openLocks = chain.openLocks.bind(chain);
    chain.openLocks = () => {
      passes++;
      return openLocks();
    };
    sweeper.start();
    await new Promise((r) => setTimeout(r, 20));
    expect(passes).toBe(1);
    await sweeper.stop();
    await new Promise((r) => setTimeout(r, 1_100));
    expect(passes).toBe(1);
  });
});
