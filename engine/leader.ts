import type { V1Lease } from '@kubernetes/client-node';
import { errorText, type Logger } from '../lib/http/log.ts';
import { kubeStatus } from '../lib/kube/errors.ts';
import { LeaseSighting, heldSpec, releasedSpec, type LeaseApi } from '../lib/kube/lease.ts';

export type { LeaseApi };

/**
 * Lease-based leader election, after client-go's: of the engine replicas, the one holding the Lease works; the
 * others retry every `retryPeriodMs` and take it over once it has been released or not renewed for its duration.
 *
 * Never two leaders: a leader steps down (`onLost`) as soon as its last successful renewal is older than the renew
 * deadline, measured on its own monotonic clock from the moment it *sent* that renewal, and a timer enforces this
 * even while a renewal call hangs. Others count the lease's duration from when they saw it change, which is after
 * that send, so the old leader has stopped `leaseDuration - renewDeadline` before anyone may take over (clock rates
 * aside, as in client-go). Every Lease call must be bounded (the caller's API client times out) so the loop goes on.
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
  /** A leader that has not renewed for this long stops acting; below the lease duration (default two thirds). */
  renewDeadlineMs?: number;
  /** How often to renew, or to look for a free lease (default 1000, at most a third of the renew deadline). */
  retryPeriodMs?: number;
  log: Logger;
  /** Milliseconds on a clock that only moves forward (default performance.now); tests pass their own. */
  clock?: () => number;
}

export class LeaderElector {
  private leading = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  /** The pass of the loop under way, awaited by release() so no renewal lands after it. */
  private inFlight: Promise<void> = Promise.resolve();
  /** When (on `clock`) the last successful renewal was sent. */
  private lastRenewed = 0;
  /** The Lease as this replica last wrote it while holding it: release() replaces exactly that version. */
  private held: V1Lease | undefined;
  /** When this replica saw the Lease last change. */
  private readonly sighting: LeaseSighting;
  private readonly clock: () => number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private onLost: () => void = () => undefined;

  constructor(private readonly opts: LeaderOptions) {
    this.clock = opts.clock ?? (() => performance.now());
    this.sighting = new LeaseSighting(this.clock);
    const durationMs = opts.leaseDurationSeconds * 1000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? Math.floor((durationMs * 2) / 3);
    this.retryPeriodMs = opts.retryPeriodMs ?? Math.min(1000, Math.floor(this.renewDeadlineMs / 3));
    if (!(this.renewDeadlineMs < durationMs))
      throw new Error(
        `the renew deadline (${this.renewDeadlineMs} ms) must be below the lease duration (${durationMs} ms)`,
      );
    if (!(this.retryPeriodMs > 0 && this.retryPeriodMs < this.renewDeadlineMs))
      throw new Error(`the retry period (${this.retryPeriodMs} ms) must be above 0 and below the renew deadline`);
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** Tries until leadership is won; then keeps renewing, calling `onLost` once the renew deadline is missed. */
  run(onElected: () => void, onLost: () => void): void {
    this.onLost = onLost;
    const tick = async (): Promise<void> => {
      if (this.stopped) return;
      const sentAt = this.clock();
      try {
        const held = await this.tryAcquireOrRenew();
        if (this.stopped) return;
        if (held) {
          this.lastRenewed = sentAt;
          if (!this.leading) {
            this.leading = true;
            this.opts.log.info('became leader', { lease: this.opts.name, identity: this.opts.identity });
            onElected();
          }
          this.armDeadline();
        } else if (this.leading) {
          this.lose('lease taken by another replica');
          return;
        }
      } catch (err) {
        if (this.stopped) return;
        this.opts.log.warn('lease update failed', { error: errorText(err) });
      }
      this.timer = setTimeout(() => (this.inFlight = tick()), this.retryPeriodMs);
    };
    this.inFlight = tick();
  }

  /**
   * Gives the lease up so another replica can take over at once (client-go's ReleaseOnCancel): the caller has
   * stopped acting first. The Lease is replaced as last written, guarded by its resourceVersion, with no holder and
   * a one-second duration; a lease changed since by anyone else is left alone.
   */
  async release(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    // A renewal still hanging after the renew deadline may yet land: then the lease is left to expire instead.
    let bound: NodeJS.Timeout | undefined;
    const settled = await Promise.race([
      this.inFlight.then(() => true),
      new Promise<boolean>((resolve) => (bound = setTimeout(() => resolve(false), this.renewDeadlineMs))),
    ]);
    clearTimeout(bound);
    this.disarmDeadline();
    const wasLeading = this.leading;
    this.leading = false;
    if (!wasLeading || !this.held || !settled) return;
    const { api, namespace, name } = this.opts;
    const body: V1Lease = { ...this.held, spec: releasedSpec(this.held.spec) };
    try {
      await api.replaceNamespacedLease({ name, namespace, body });
      this.opts.log.info('released the lease', { lease: name, identity: this.opts.identity });
    } catch (err) {
      this.opts.log.warn('could not release the lease', { error: errorText(err) });
    }
  }

  private armDeadline(): void {
    this.disarmDeadline();
    const wait = this.lastRenewed + this.renewDeadlineMs - this.clock();
    this.deadlineTimer = setTimeout(
      () => {
        if (this.clock() - this.lastRenewed >= this.renewDeadlineMs) this.lose('could not renew the lease in time');
        else this.armDeadline();
      },
      Math.max(0, wait),
    );
  }

  private disarmDeadline(): void {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
  }

  private lose(why: string): void {
    if (!this.leading) return;
    this.leading = false;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.disarmDeadline();
    this.opts.log.error('lost leadership', { why });
    this.onLost();
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { api, namespace, name, identity, leaseDurationSeconds } = this.opts;
    let lease: V1Lease;
    try {
      lease = await api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (kubeStatus(err) !== 404) throw err;
      try {
        this.held = await api.createNamespacedLease({
          namespace,
          body: { metadata: { name, namespace }, spec: heldSpec(undefined, identity, leaseDurationSeconds) },
        });
        return true;
      } catch (createErr) {
        if (kubeStatus(createErr) === 409) return false;
        throw createErr;
      }
    }
    const expired = this.sighting.lapsed(lease, leaseDurationSeconds);
    if (lease.spec?.holderIdentity !== identity && !expired) return false;
    lease.spec = heldSpec(lease.spec, identity, leaseDurationSeconds);
    try {
      // The resourceVersion read above makes this a compare-and-swap: a concurrent taker gets 409.
      this.held = await api.replaceNamespacedLease({ name, namespace, body: lease });
      return true;
    } catch (err) {
      if (kubeStatus(err) === 409) return false;
      throw err;
    }
  }
}
