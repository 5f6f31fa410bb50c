import type { CoordinationV1Api, V1Lease, V1LeaseSpec } from '@kubernetes/client-node';

/**
 * What the engine's leader election (engine/leader.ts) and the provider key's transaction lease (lease-mutex.ts)
 * share: the calls they make on one Lease, and how a holder that stopped is recognised.
 */

/**
 * A Lease time as the API server takes it (MicroTime: six fractional digits), as client-node's V1MicroTime writes it;
 * own copy, because `start` must not load client-node at start-up (lib/kube/lazy.ts) for one class.
 */
export class MicroTime extends Date {
  override toISOString(): string {
    return super.toISOString().slice(0, -1) + '000Z';
  }
}

/** The calls a Lease holder makes: one Lease, read, created, and replaced guarded by its resourceVersion. */
export type LeaseApi = Pick<
  CoordinationV1Api,
  'readNamespacedLease' | 'createNamespacedLease' | 'replaceNamespacedLease'
>;

/**
 * When this process saw a Lease last change, on its own monotonic clock (client-go's observedTime): a holder that
 * stopped renewing is recognised by its Lease not changing for its duration as seen here, never by comparing the
 * holder's renewTime with the local time, so another node's clock running behind or ahead cannot make a live lease
 * look expired.
 */
export class LeaseSighting {
  private observed: { version: string; at: number } | undefined;

  constructor(private readonly clock: () => number) {}

  /** Notes the Lease as read now; returns whether its holder (if any) has let it lapse. */
  lapsed(lease: V1Lease, defaultDurationSeconds: number): boolean {
    const version = lease.metadata?.resourceVersion ?? '';
    const now = this.clock();
    if (this.observed?.version !== version) this.observed = { version, at: now };
    const spec = lease.spec ?? {};
    if (!spec.holderIdentity) return true;
    return now - this.observed.at > (spec.leaseDurationSeconds ?? defaultDurationSeconds) * 1000;
  }
}

/**
 * The spec of a Lease read back from the API server, ready to be written again: client-node reads MicroTime fields
 * as plain Dates, which serialise to the millisecond form the API server refuses.
 */
export function writableSpec(spec: V1LeaseSpec | undefined): V1LeaseSpec {
  const s = spec ?? {};
  return {
    ...s,
    ...(s.acquireTime ? { acquireTime: new MicroTime(s.acquireTime) } : {}),
    ...(s.renewTime ? { renewTime: new MicroTime(s.renewTime) } : {}),
  };
}

/** The spec that gives a Lease to `identity` now; a change of holder counts as a transition. */
export function heldSpec(spec: V1LeaseSpec | undefined, identity: string, durationSeconds: number): V1LeaseSpec {
  const now = new MicroTime();
  const s = writableSpec(spec);
  const takeover = s.holderIdentity !== identity;
  return {
    ...s,
    holderIdentity: identity,
    leaseDurationSeconds: durationSeconds,
    renewTime: now,
    ...(takeover ? { acquireTime: now, leaseTransitions: (s.leaseTransitions ?? 0) + (spec ? 1 : 0) } : {}),
  };
}

/** The spec of a Lease given up: no holder, and a one-second duration so nobody waits for it. */
export function releasedSpec(spec: V1LeaseSpec | undefined): V1LeaseSpec {
  return { ...writableSpec(spec), holderIdentity: undefined, leaseDurationSeconds: 1, renewTime: new MicroTime() };
}
