import type { V1Lease } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { LeaseBusy, LeaseMutex, type LeaseMutexOptions } from '../../../../lib/kube/lease-mutex.ts';
import { apiError } from '../../../support/fake-configmaps.ts';
import { FakeKubeApi } from '../../../support/fake-kube-api.ts';

const NS = 'c2d-system';
const NAME = 'c2d-provider-tx';

function mutex(api: FakeKubeApi, identity: string, opts: Partial<LeaseMutexOptions> = {}): LeaseMutex {
  return new LeaseMutex({
    api,
    namespace: NS,
    name: NAME,
    identity,
    leaseDurationSeconds: 2,
    acquireTimeoutMs: 5_000,
    retryMs: 5,
    ...opts,
  });
}

const lease = (api: FakeKubeApi): V1Lease | undefined => api.get<V1Lease>('leases', NS, NAME);
const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('LeaseMutex', () => {
  it('creates the lease, holds it for the critical section, and gives it back with the notes', async () => {
    const api = new FakeKubeApi();
    const m = mutex(api, 'a');
    const result = await m.withLease(async (held) => {
      expect(held.annotations).toEqual({});
      expect(lease(api)?.spec?.holderIdentity).toBe('a');
      expect(held.remainingMs()).toBeGreaterThan(1_500);
      held.note({ k: 'v1' });
      return 42;
    });
    expect(result).toBe(42);
    expect(lease(api)?.spec?.holderIdentity).toBeUndefined();
    expect(lease(api)?.metadata?.annotations).toEqual({ k: 'v1' });
    // The next holder reads what the last one left.
    await mutex(api, 'b').withLease(async (held) => {
      expect(held.annotations).toEqual({ k: 'v1' });
      expect(lease(api)?.spec?.holderIdentity).toBe('b');
    });
  });

  it('gives the lease back when the critical section throws', async () => {
    const api = new FakeKubeApi();
    const m = mutex(api, 'a');
    await expect(m.withLease(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(lease(api)?.spec?.holderIdentity).toBeUndefined();
  });

  it('never lets two holders in at once, across processes and within one', async () => {
    const api = new FakeKubeApi();
    const holders = [mutex(api, 'a'), mutex(api, 'b'), mutex(api, 'c')];
    let inside = 0;
    let most = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        holders[i % 3]!.withLease(async () => {
          inside++;
          most = Math.max(most, inside);
          await tick(2);
          order.push(i);
          inside--;
        }),
      ),
    );
    expect(most).toBe(1);
    expect(order.sort((x, y) => x - y)).toEqual(Array.from({ length: 12 }, (_, i) => i));
  });

  it('waits for a holder that stopped until its lease has not changed for its duration, as seen here', async () => {
    const api = new FakeKubeApi();
    let now = 0;
    const clock = (): number => now;
    // A holder that died while holding: its lease stays held.
    api.put('leases', {
      metadata: { name: NAME, namespace: NS },
      spec: { holderIdentity: 'dead', leaseDurationSeconds: 2 },
    });
    const m = mutex(api, 'b', { clock, retryMs: 1 });
    let entered = false;
    const done = m.withLease(() => {
      entered = true;
      return Promise.resolve();
    });
    await tick(20);
    expect(entered).toBe(false);
    now = 1_999;
    await tick(20);
    expect(entered).toBe(false);
    now = 2_001;
    await done;
    expect(entered).toBe(true);
  });

  it('gives up after its bounded wait, naming the holder', async () => {
    const api = new FakeKubeApi();
    api.put('leases', {
      metadata: { name: NAME, namespace: NS },
      spec: { holderIdentity: 'busy', leaseDurationSeconds: 60 },
    });
    const m = mutex(api, 'b', { acquireTimeoutMs: 50 });
    const err = await m.withLease(() => Promise.resolve()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LeaseBusy);
    expect((err as Error).message).toMatch(/held by busy after 50 ms/);
  });

  it('takes the lease with a guarded replace: a concurrent change makes it try again', async () => {
    const api = new FakeKubeApi();
    api.put('leases', { metadata: { name: NAME, namespace: NS }, spec: {} });
    api.failNext('replaceNamespacedLease', apiError(409, 'the object has been modified'));
    let entered = false;
    await mutex(api, 'a').withLease(() => {
      entered = true;
      return Promise.resolve();
    });
    expect(entered).toBe(true);
    expect(api.calls.filter((c) => c.startsWith('replaceNamespacedLease'))).toHaveLength(3);
  });

  it('leaves a lease taken over after it lapsed to its new holder', async () => {
    const api = new FakeKubeApi();
    await mutex(api, 'a').withLease(async () => {
      // Another process took it over meanwhile (this one overran its duration).
      api.patch('leases', NS, NAME, { spec: { holderIdentity: 'z' } });
    });
    expect(lease(api)?.spec?.holderIdentity).toBe('z');
  });
});

describe('LeaseMutex refusals', () => {
  it('fails at once when the API server refuses (no permission), and retries what may pass', async () => {
    const api = new FakeKubeApi();
    api.failNext('readNamespacedLease', apiError(403, 'forbidden'));
    await expect(mutex(api, 'a').withLease(() => Promise.resolve())).rejects.toMatchObject({ code: 403 });
    expect(api.calls.filter((c) => c.startsWith('readNamespacedLease'))).toHaveLength(1);
    api.failNext('readNamespacedLease', apiError(500, 'etcd timeout'));
    await expect(mutex(api, 'a').withLease(() => Promise.resolve(1))).resolves.toBe(1);
  });
});
