import { V1MicroTime, type V1Lease } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LeaderElector, type LeaderOptions } from '../../../engine/leader.ts';
import { silentLogger } from '../../support/silent-logger.ts';
import { apiError } from '../../support/fake-configmaps.ts';
import { FakeKubeApi } from '../../support/fake-kube-api.ts';

const NS = 'c2d-system';
const NAME = 'c2d-engine';
const DURATION_S = 8;

/** Another replica renewing the lease it holds, stamping renewTime with its own clock. */
function renewAs(api: FakeKubeApi, holder: string, renewTime: Date): void {
  const spec = { holderIdentity: holder, leaseDurationSeconds: DURATION_S, renewTime: new V1MicroTime(renewTime) };
  if (api.get('leases', NS, NAME)) api.patch('leases', NS, NAME, { spec });
  else api.put('leases', { metadata: { name: NAME, namespace: NS }, spec });
}

const holderOf = (api: FakeKubeApi): string | undefined => api.get<V1Lease>('leases', NS, NAME)?.spec?.holderIdentity;

function elector(
  api: FakeKubeApi,
  identity: string,
  over: Partial<LeaderOptions> = {},
): { elector: LeaderElector; events: string[] } {
  const events: string[] = [];
  const e = new LeaderElector({
    api,
    namespace: NS,
    name: NAME,
    identity,
    leaseDurationSeconds: DURATION_S,
    log: silentLogger,
    clock: () => Date.now(),
    ...over,
  });
  e.run(
    () => events.push('elected'),
    () => events.push('lost'),
  );
  return { elector: e, events };
}

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
});

describe('LeaderElector', () => {
  it('takes a free lease, keeps renewing it, and another replica waits', async () => {
    const api = new FakeKubeApi();
    const a = elector(api, 'a');
    await vi.advanceTimersByTimeAsync(10);
    expect(a.events).toEqual(['elected']);
    const b = elector(api, 'b');
    await vi.advanceTimersByTimeAsync(DURATION_S * 5_000);
    expect(holderOf(api)).toBe('a');
    expect(b.events).toEqual([]);
    expect(a.elector.isLeader()).toBe(true);
  });

  it("does not take over a live lease whose holder's clock runs an hour behind", async () => {
    const api = new FakeKubeApi();
    const renew = (): void => renewAs(api, 'b', new Date(Date.now() - 3_600_000));
    renew();
    const renewing = setInterval(renew, 1_000);
    const a = elector(api, 'a');
    await vi.advanceTimersByTimeAsync(DURATION_S * 4_000);
    expect(a.events).toEqual([]);
    expect(holderOf(api)).toBe('b');

    // b dies: once the lease has not changed for its duration on a's clock, a takes over.
    clearInterval(renewing);
    await vi.advanceTimersByTimeAsync(DURATION_S * 1_000 - 1_000);
    expect(a.events).toEqual([]);
    await vi.advanceTimersByTimeAsync(DURATION_S * 1_000);
    expect(a.events).toEqual(['elected']);
    expect(holderOf(api)).toBe('a');
  });

  it("does not wait out a lease whose holder's clock runs ahead once it stops renewing", async () => {
    const api = new FakeKubeApi();
    renewAs(api, 'b', new Date(Date.now() + 3_600_000));
    const a = elector(api, 'a');
    await vi.advanceTimersByTimeAsync(DURATION_S * 1_000 + DURATION_S * 250 + 10);
    expect(a.events).toEqual(['elected']);
  });

  it('hands over at once when the leader releases the lease', async () => {
    const api = new FakeKubeApi();
    const a = elector(api, 'a');
    await vi.advanceTimersByTimeAsync(10);
    const b = elector(api, 'b');
    await vi.advanceTimersByTimeAsync(10);
    expect(b.events).toEqual([]);
    await a.elector.release();
    await vi.advanceTimersByTimeAsync(DURATION_S * 250 + 10);
    expect(b.events).toEqual(['elected']);
    expect(holderOf(api)).toBe('b');
  });

  it('gives up leading when it cannot renew before the deadline', async () => {
    const api = new FakeKubeApi();
    const a = elector(api, 'a');
    await vi.advanceTimersByTimeAsync(10);
    for (let i = 0; i < 10; i++) api.failNext('readNamespacedLease', apiError(500));
    await vi.advanceTimersByTimeAsync(DURATION_S * 1_000);
    expect(a.events).toEqual(['elected', 'lost']);
    expect(a.elector.isLeader()).toBe(false);
  });

  it('creates the lease when there is none and renews it while leading', async () => {
    const api = new FakeKubeApi();
    const a = elector(api, 'a');
    await vi.advanceTimersByTimeAsync(10);
    const created = api.get<V1Lease>('leases', NS, NAME)!;
    expect(created.spec).toMatchObject({ holderIdentity: 'a', leaseDurationSeconds: DURATION_S, leaseTransitions: 0 });
    await vi.advanceTimersByTimeAsync(DURATION_S * 250);
    const renewed = api.get<V1Lease>('leases', NS, NAME)!;
    expect(Number(renewed.metadata?.resourceVersion)).toBeGreaterThan(Number(created.metadata?.resourceVersion));
    expect(api.calls.filter((c) => c.startsWith('replaceNamespacedLease'))).toHaveLength(1);
    expect(renewed.spec?.holderIdentity).toBe('a');
    expect(renewed.spec?.acquireTime).toEqual(created.spec?.acquireTime);
    expect(a.events).toEqual(['elected']);
  });

  it('of two replicas starting together, one creates the lease and the other waits', async () => {
    const api = new FakeKubeApi();
    const a = elector(api, 'a');
    const b = elector(api, 'b');
    await vi.advanceTimersByTimeAsync(DURATION_S * 2_000);
    expect([...a.events, ...b.events]).toEqual(['elected']);
    expect(holderOf(api)).toBe(a.events.length ? 'a' : 'b');
    expect(api.calls.filter((c) => c.startsWith('createNamespacedLease'))).toHaveLength(2);
  });

  it('takes over a lease left by a replica that died, counting the transition', async () => {
    const api = new FakeKubeApi();
    renewAs(api, 'b', new Date());
    const a = elector(api, 'a');
    await vi.advanceTimersByTimeAsync(DURATION_S * 1_000 + DURATION_S * 250 + 10);
    expect(a.events).toEqual(['elected']);
    const lease = api.get<V1Lease>('leases', NS, NAME)!;
    expect(lease.spec).toMatchObject({ holderIdentity: 'a', leaseTransitions: 1 });
    expect(lease.spec?.acquireTime).toEqual(lease.spec?.renewTime);
  });

  it('steps down when it finds another replica holding the lease', async () => {
    const api = new FakeKubeApi();
    const a = elector(api, 'a');
    await vi.advanceTimersByTimeAsync(10);
    renewAs(api, 'b', new Date());
    await vi.advanceTimersByTimeAsync(DURATION_S * 250);
    expect(a.events).toEqual(['elected', 'lost']);
    expect(a.elector.isLeader()).toBe(false);
    expect(holderOf(api)).toBe('b');
    // Once lost, it stays a follower: no more calls.
    const calls = api.calls.length;
    await vi.advanceTimersByTimeAsync(DURATION_S * 5_000);
    expect(api.calls).toHaveLength(calls);
  });

  it('keeps leading through a failed renewal that is followed by a good one in time', async () => {
    const api = new FakeKubeApi();
    const a = elector(api, 'a');
    await vi.advanceTimersByTimeAsync(10);
    api.failNext('replaceNamespacedLease', apiError(503));
    api.failNext('readNamespacedLease', apiError(500));
    await vi.advanceTimersByTimeAsync(DURATION_S * 250 * 3);
    expect(a.events).toEqual(['elected']);
    expect(holderOf(api)).toBe('a');
  });

  it('loses a renewal race (409) to a replica that replaced the lease first, and steps down', async () => {
    const api = new FakeKubeApi();
    const a = elector(api, 'a');
    await vi.advanceTimersByTimeAsync(10);
    // Between a's read and its replace, b writes the lease: a's replace carries a stale resourceVersion.
    const replace = api.replaceNamespacedLease.bind(api);
    api.replaceNamespacedLease = async (req) => {
      api.replaceNamespacedLease = replace;
      renewAs(api, 'b', new Date());
      return replace(req);
    };
    await vi.advanceTimersByTimeAsync(DURATION_S * 250);
    expect(a.events).toEqual(['elected', 'lost']);
    expect(holderOf(api)).toBe('b');
  });
});
