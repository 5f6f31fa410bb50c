import { V1MicroTime, type V1Lease } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LeaderElector, type LeaderOptions, type LeaseApi } from '../../../engine/leader.ts';
import { silentLogger } from '../../support/silent-logger.ts';
import { apiError } from '../../support/fake-configmaps.ts';
import { FakeKubeApi } from '../../support/fake-kube-api.ts';

const NS = 'c2d-system';
const NAME = 'c2d-engine';
const DURATION_S = 8;
/** The defaults for an 8 s lease: renew deadline two thirds of it, retry period 1 s. */
const RENEW_DEADLINE_MS = 5_333;
const RETRY_MS = 1_000;

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

  it('hands over within one retry period when the leader releases the lease', async () => {
    const api = new FakeKubeApi();
    const a = elector(api, 'a');
    await vi.advanceTimersByTimeAsync(10);
    const b = elector(api, 'b');
    await vi.advanceTimersByTimeAsync(10);
    expect(b.events).toEqual([]);
    await a.elector.release();
    expect(a.elector.isLeader()).toBe(false);
    const released = api.get<V1Lease>('leases', NS, NAME)!;
    expect(released.spec?.holderIdentity).toBeUndefined();
    expect(released.spec?.leaseDurationSeconds).toBe(1);
    await vi.advanceTimersByTimeAsync(RETRY_MS + 10);
    expect(b.events).toEqual(['elected']);
    expect(holderOf(api)).toBe('b');
    // The released replica makes no call after its release.
    const calls = api.calls.filter((c) => c.endsWith(' ' + NAME)).length;
    await vi.advanceTimersByTimeAsync(RETRY_MS * 5);
    expect(a.events).toEqual(['elected']);
    expect(holderOf(api)).toBe('b');
    expect(api.calls.filter((c) => c.endsWith(' ' + NAME)).length - calls).toBe(5 * 2);
  });

  it('waits for a renewal under way before it releases, so no renewal lands after the release', async () => {
    const api = new FakeKubeApi();
    const a = elector(api, 'a');
    await vi.advanceTimersByTimeAsync(10);
    let answer: () => void = () => undefined;
    const replace = api.replaceNamespacedLease.bind(api);
    api.replaceNamespacedLease = (req) =>
      new Promise((resolve, reject) => (answer = () => replace(req).then(resolve, reject)));
    await vi.advanceTimersByTimeAsync(RETRY_MS);
    api.replaceNamespacedLease = replace;
    const releasing = a.elector.release();
    answer();
    await releasing;
    expect(holderOf(api)).toBeUndefined();
    expect(a.events).toEqual(['elected']);
  });

  it('does not release a lease that changed since it last wrote it', async () => {
    const api = new FakeKubeApi();
    const a = elector(api, 'a');
    await vi.advanceTimersByTimeAsync(10);
    renewAs(api, 'b', new Date());
    await a.elector.release();
    expect(holderOf(api)).toBe('b');
  });

  it('steps down before the lease can expire for others while its renewal never answers', async () => {
    const api = new FakeKubeApi();
    // a's connection stalls: once `link.stalled`, its calls are sent and never answered.
    const link = { stalled: false };
    const stalling =
      <A extends unknown[], R>(call: (...args: A) => Promise<R>) =>
      (...args: A): Promise<R> =>
        !link.stalled ? call(...args) : new Promise<R>(() => undefined);
    const aApi: LeaseApi = {
      readNamespacedLease: stalling(api.readNamespacedLease.bind(api)),
      createNamespacedLease: stalling(api.createNamespacedLease.bind(api)),
      replaceNamespacedLease: stalling(api.replaceNamespacedLease.bind(api)),
    };
    // a creates the lease at once: its last good write is sent now; its first renewal, a retry period later, stalls.
    const lastRenewalSent = Date.now();
    const a = elector(api, 'a', { api: aApi });
    await vi.advanceTimersByTimeAsync(10);
    const b = elector(api, 'b');
    await vi.advanceTimersByTimeAsync(RETRY_MS / 2);
    link.stalled = true;
    const times: Record<string, number> = {};
    const watching = setInterval(() => {
      if (a.events.includes('lost')) times.lost ??= Date.now();
      if (b.events.includes('elected')) times.elected ??= Date.now();
    }, 1);
    await vi.advanceTimersByTimeAsync(DURATION_S * 3_000);
    clearInterval(watching);
    expect(a.events).toEqual(['elected', 'lost']);
    expect(a.elector.isLeader()).toBe(false);
    expect(b.events).toEqual(['elected']);
    expect(times.lost! - lastRenewalSent).toBeLessThanOrEqual(RENEW_DEADLINE_MS + 1);
    // b counts a whole lease duration from when it saw a's last renewal, which a sent no later than that.
    expect(times.elected! - times.lost!).toBeGreaterThanOrEqual(DURATION_S * 1_000 - RENEW_DEADLINE_MS - RETRY_MS);
  });

  it('refuses a renew deadline that is not below the lease duration', () => {
    const api = new FakeKubeApi();
    const opts = { api, namespace: NS, name: NAME, identity: 'a', log: silentLogger, leaseDurationSeconds: 8 };
    expect(() => new LeaderElector({ ...opts, renewDeadlineMs: 8_000 })).toThrow(/below the lease duration/);
    expect(() => new LeaderElector({ ...opts, renewDeadlineMs: 4_000, retryPeriodMs: 4_000 })).toThrow(/retry period/);
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
    await vi.advanceTimersByTimeAsync(RETRY_MS);
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
    // Set by the takeover together with its renewal (a few ms apart at most on a loaded machine: CI saw 1 ms).
    const [acquired, renewed] = [lease.spec!.acquireTime!, lease.spec!.renewTime!].map((t) => new Date(t).getTime());
    expect(Math.abs(renewed! - acquired!)).toBeLessThanOrEqual(50);
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
