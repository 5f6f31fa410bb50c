import { CoordinationV1Api, V1MicroTime, type V1Lease } from '@kubernetes/client-node';
import { errorText, type Logger } from '../lib/http/log.ts';
import { kubeStatus } from '../lib/kube/errors.ts';

/** The calls the elector makes: one Lease, read, created, and replaced guarded by its resourceVersion. */
export type LeaseApi = Pick<
  CoordinationV1Api,
  'readNamespacedLease' | 'createNamespacedLease' | 'replaceNamespacedLease'
>;

/**
 * Lease-based leader election: of the engine replicas, the one holding the Lease works; the others wait to take it
 * over once it has not been renewed for its duration. A leader that cannot renew in time gives up (`onLost`), so
 * two replicas never act at once for longer than the renew deadline.
 *
 * "Not renewed for its duration" is measured as client-go does, on this replica's own clock: from the moment this
 * replica saw the Lease last change (its resourceVersion), never by comparing the holder's renewTime with the local
 * time. Another node's clock running behind or ahead therefore cannot make a live lease look expired.
 */
export interface LeaderOptions {
  api: LeaseApi;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds: number;
  log: Logger;
  /** Milliseconds on a clock that only moves forward (default performance.now); tests pass their own. */
  clock?: () => number;
}

export class LeaderElector {
  private leading = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  /** The Lease as last seen (its resourceVersion) and when, on `clock`. */
  private observed: { version: string; at: number } | undefined;
  private readonly clock: () => number;

  constructor(private readonly opts: LeaderOptions) {
    this.clock = opts.clock ?? (() => performance.now());
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** Tries until leadership is won; then keeps renewing, calling `onLost` if a renewal deadline is missed. */
  run(onElected: () => void, onLost: () => void): void {
    const retryMs = Math.max(500, (this.opts.leaseDurationSeconds * 1000) / 4);
    let lastRenewed = 0;
    const tick = async (): Promise<void> => {
      if (this.stopped) return;
      try {
        const held = await this.tryAcquireOrRenew();
        if (held) {
          lastRenewed = this.clock();
          if (!this.leading) {
            this.leading = true;
            this.opts.log.info('became leader', { lease: this.opts.name, identity: this.opts.identity });
            onElected();
          }
        } else if (this.leading) {
          this.lose(onLost, 'lease taken by another replica');
          return;
        }
      } catch (err) {
        this.opts.log.warn('lease update failed', { error: errorText(err) });
        if (this.leading && this.clock() - lastRenewed > this.opts.leaseDurationSeconds * 1000 * 0.75) {
          this.lose(onLost, 'could not renew the lease in time');
          return;
        }
      }
      this.timer = setTimeout(() => void tick(), retryMs);
    };
    void tick();
  }

  /** Gives the lease up so another replica can take over at once. */
  async release(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (!this.leading) return;
    this.leading = false;
    try {
      const lease = await this.opts.api.readNamespacedLease({ name: this.opts.name, namespace: this.opts.namespace });
      if (lease.spec?.holderIdentity !== this.opts.identity) return;
      lease.spec = { ...lease.spec, holderIdentity: undefined, renewTime: undefined, acquireTime: undefined };
      await this.opts.api.replaceNamespacedLease({ name: this.opts.name, namespace: this.opts.namespace, body: lease });
    } catch (err) {
      this.opts.log.warn('could not release the lease', { error: errorText(err) });
    }
  }

  private lose(onLost: () => void, why: string): void {
    this.leading = false;
    this.stopped = true;
    this.opts.log.error('lost leadership', { why });
    onLost();
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { api, namespace, name, identity, leaseDurationSeconds } = this.opts;
    // Lease times are MicroTime: the API server refuses the millisecond form plain Dates serialise to.
    const now = new V1MicroTime();
    let lease: V1Lease;
    try {
      lease = await api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (kubeStatus(err) !== 404) throw err;
      try {
        await api.createNamespacedLease({
          namespace,
          body: {
            metadata: { name, namespace },
            spec: {
              holderIdentity: identity,
              leaseDurationSeconds,
              acquireTime: now,
              renewTime: now,
              leaseTransitions: 0,
            },
          },
        });
        return true;
      } catch (createErr) {
        if (kubeStatus(createErr) === 409) return false;
        throw createErr;
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity;
    const version = lease.metadata?.resourceVersion ?? '';
    if (this.observed?.version !== version) this.observed = { version, at: this.clock() };
    const expired =
      !holder || this.clock() - this.observed.at > (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
    if (holder !== identity && !expired) return false;
    lease.spec = {
      ...spec,
      ...(spec.acquireTime ? { acquireTime: new V1MicroTime(spec.acquireTime) } : {}),
      holderIdentity: identity,
      leaseDurationSeconds,
      renewTime: now,
      ...(holder !== identity ? { acquireTime: now, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 } : {}),
    };
    try {
      // The resourceVersion read above makes this a compare-and-swap: a concurrent taker gets 409.
      await api.replaceNamespacedLease({ name, namespace, body: lease });
      return true;
    } catch (err) {
      if (kubeStatus(err) === 409) return false;
      throw err;
    }
  }
}
