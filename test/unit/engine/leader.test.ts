import { V1MicroTime, type V1Lease } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LeaderElector, type LeaderOptions } from '../../../engine/leader.ts';
import { silentLogger } from '../../support/silent-logger.ts';
import { apiError } from '../../support/fake-configmaps.ts';

const NS = 'c2d-system';
const NAME = 'c2d-engine';
const DURATION_S = 8;

/** The Lease calls of CoordinationV1Api over one object, with the API server's compare-and-swap on resourceVersion. */
class FakeLeases {
  lease: V1Lease | undefined;
  private revision = 0;

  async readNamespacedLease(): Promise<V1Lease> {
    if (!this.lease) throw apiError(404);
    return structuredClone(this.lease);
  }

  async createNamespacedLease(req: { body: V1Lease }): Promise<V1Lease> {
    if (this.lease) throw apiError(409);
    return this.store(req.body);
  }

  async replaceNamespacedLease(req: { body: V1Lease }): Promise<V1Lease> {
    if (req.body.metadata?.resourceVersion !== this.lease?.metadata?.resourceVersion) throw apiError(409);
    return this.store(req.body);
  }

  /** Another replica renewing the lease it holds, stamping renewTime with its own clock. */
  renewAs(holder: string, renewTime: Date): void {
    this.store({ metadata: { name: NAME, namespace: NS, ...this.lease?.metadata }, spec: { ...this.lease?.spec, holderIdentity: holder, leaseDurationSeconds: DURATION_S, renewTime: new V1MicroTime(renewTime) } });
  }

  get holder(): string | undefined {
    return this.lease?.spec?.holderIdentity;
  }

  private store(body: V1Lease): V1Lease {
    this.lease = structuredClone({ ...body, metadata: { ...body.metadata, resourceVersion: String(++this.revision) } });
    return structuredClone(this.lease);
  }
}

function elector(api: FakeLeases, identity: string, over: Partial<LeaderOptions> = {}): { elector: LeaderElector; events: string[] } {
  const events: string[] = [];
  const e = new LeaderElector({ api, namespace: NS, name: NAME, identity, leaseDurationSeconds: DURATION_S, log: silentLogger, clock: () => Date.now(), ...over });
  e.run(() => events.push('elected'), () => events.push('lost'));
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
    const api = new FakeLeases();
    const a = elector(api, 'a');
    await vi.advanceTimersByTimeAsync(10);
    expect(a.events).toEqual(['elected']);
    const b = elector(api, 'b');
    await vi.advanceTimersByTimeAsync(DURATION_S * 5_000);
    expect(api.holder).toBe('a');
    expect(b.events).toEqual([]);
    expect(a.elector.isLeader()).toBe(true);
  });

  it("does not take over a live lease whose holder's clock runs an hour behind", async () => {
    const api = new FakeLeases();
    const renew = (): void => api.renewAs('b', new Date(Date.now() - 3_600_000));
    renew();
    const renewing = setInterval(renew, 1_000);
    const a = elector(api, 'a');
    await vi.advanceTimersByTimeAsync(DURATION_S * 4_000);
    expect(a.events).toEqual([]);
    expect(api.holder).toBe('b');

    // b dies: once the lease has not changed for its duration on a's clock, a takes over.
    clearInterval(renewing);
    await vi.advanceTimersByTimeAsync(DURATION_S * 1_000 - 1_000);
    expect(a.events).toEqual([]);
    await vi.advanceTimersByTimeAsync(DURATION_S * 1_000);
    expect(a.events).toEqual(['elected']);
    expect(api.holder).toBe('a');
  });

  it("does not wait out a lease whose holder's clock runs ahead once it stops renewing", async () => {
    const api = new FakeLeases();
    api.renewAs('b', new Date(Date.now() + 3_600_000));
    const a = elector(api, 'a');
    await vi.advanceTimersByTimeAsync(DURATION_S * 1_000 + DURATION_S * 250 + 10);
    expect(a.events).toEqual(['elected']);
  });

  it('hands over at once when the leader releases the lease', async () => {
    const api = new FakeLeases();
    const a = elector(api, 'a');
    await vi.advanceTimersByTimeAsync(10);
    const b = elector(api, 'b');
    await vi.advanceTimersByTimeAsync(10);
    expect(b.events).toEqual([]);
    await a.elector.release();
    await vi.advanceTimersByTimeAsync(DURATION_S * 250 + 10);
    expect(b.events).toEqual(['elected']);
    expect(api.holder).toBe('b');
  });

  it('gives up leading when it cannot renew before the deadline', async () => {
    const api = new FakeLeases();
    const a = elector(api, 'a');
    await vi.advanceTimersByTimeAsync(10);
    api.readNamespacedLease = async () => {
      throw apiError(500);
    };
    await vi.advanceTimersByTimeAsync(DURATION_S * 1_000);
    expect(a.events).toEqual(['elected', 'lost']);
    expect(a.elector.isLeader()).toBe(false);
  });
});
