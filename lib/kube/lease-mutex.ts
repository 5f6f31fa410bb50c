import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { V1Lease } from '@kubernetes/client-node';
import { errorText, type Logger } from '../http/log.ts';
import { kubeStatus } from './errors.ts';
import { LeaseSighting, heldSpec, releasedSpec, writableSpec, type LeaseApi } from './lease.ts';

/**
 * A mutex across processes and pods: one Kubernetes Lease, held for a short critical section and given back at its
 * end. Taking it is a create (when absent) or a replace guarded by the resourceVersion read, so of two takers one
 * gets 409 and tries again. A holder that died is recognised as the leader election does (lease.ts LeaseSighting):
 * its Lease has not changed for its duration as seen by the waiter, so a crash delays the others by at most that.
 *
 * A holder must be done within the duration: `remainingMs` counts it down from when the taking write was sent (before
 * anyone could see it change), and a caller checks it before any step that must not happen outside the mutex.
 * The Lease's annotations carry what a holder leaves for the next one (`note`), written with the release.
 */

export interface LeaseMutexOptions {
  api: LeaseApi;
  namespace: string;
  name: string;
  /** Unique per process (default: host, pid and random bytes); two holders with one identity would share the lease. */
  identity?: string;
  /** How long a holder may keep the lease before others take it over. */
  leaseDurationSeconds: number;
  /** Bound on waiting for the lease; then `withLease` throws LeaseBusy. */
  acquireTimeoutMs: number;
  /** Pause between tries while another holds it (default 50 ms, jittered up to twice that). */
  retryMs?: number;
  /** Milliseconds on a clock that only moves forward (default performance.now). */
  clock?: () => number;
  log?: Logger;
}

export interface HeldLease {
  /** The Lease's annotations as the previous holder left them. */
  readonly annotations: Readonly<Record<string, string>>;
  /** Milliseconds before another process may take the lease over. */
  remainingMs(): number;
  /** Annotations to write with the release, for the next holder. */
  note(annotations: Record<string, string>): void;
}

export class LeaseBusy extends Error {}

const REFUSED = new Set([400, 401, 403, 422]);

export class LeaseMutex {
  private readonly identity: string;
  private readonly clock: () => number;
  private readonly sighting: LeaseSighting;
  /** Callers in this process take turns before asking the API server: they share one identity. */
  private local: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: LeaseMutexOptions) {
    this.identity = opts.identity ?? `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
    this.clock = opts.clock ?? (() => performance.now());
    this.sighting = new LeaseSighting(this.clock);
  }

  /** Runs `critical` while holding the lease; the lease is given back however it ends. */
  withLease<T>(critical: (held: HeldLease) => Promise<T>): Promise<T> {
    const deadline = this.clock() + this.opts.acquireTimeoutMs;
    const turn = this.local.then(() => this.run(critical, deadline));
    this.local = turn.catch(() => undefined);
    return turn;
  }

  private async run<T>(critical: (held: HeldLease) => Promise<T>, deadline: number): Promise<T> {
    const { lease, sentAt } = await this.acquire(deadline);
    const durationMs = this.opts.leaseDurationSeconds * 1000;
    const notes: Record<string, string> = {};
    const held: HeldLease = {
      annotations: { ...lease.metadata?.annotations },
      remainingMs: () => durationMs - (this.clock() - sentAt),
      note: (a) => Object.assign(notes, a),
    };
    try {
      return await critical(held);
    } finally {
      await this.release(lease, notes);
    }
  }

  private async acquire(deadline: number): Promise<{ lease: V1Lease; sentAt: number }> {
    const { api, namespace, name, leaseDurationSeconds } = this.opts;
    const retryMs = this.opts.retryMs ?? 50;
    let holder: string | undefined;
    for (;;) {
      const sentAt = this.clock();
      try {
        const taken = await this.tryTake(api, namespace, name, leaseDurationSeconds);
        if ('lease' in taken) return { lease: taken.lease, sentAt };
        holder = taken.holder;
      } catch (err) {
        // Refused (no permission, an admission policy, an invalid object) is not going to change by waiting.
        if (REFUSED.has(kubeStatus(err) ?? 0) || this.clock() + retryMs > deadline) throw err;
      }
      if (this.clock() + retryMs > deadline) {
        throw new LeaseBusy(
          `lease ${namespace}/${name} still held by ${holder ?? 'another process'} after ${this.opts.acquireTimeoutMs} ms`,
        );
      }
      await new Promise((r) => setTimeout(r, retryMs * (1 + Math.random())));
    }
  }

  private async tryTake(
    api: LeaseApi,
    namespace: string,
    name: string,
    durationSeconds: number,
  ): Promise<{ lease: V1Lease } | { holder: string | undefined }> {
    let lease: V1Lease;
    try {
      lease = await api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (kubeStatus(err) !== 404) throw err;
      try {
        const body = { metadata: { name, namespace }, spec: heldSpec(undefined, this.identity, durationSeconds) };
        return { lease: await api.createNamespacedLease({ namespace, body }) };
      } catch (createErr) {
        if (kubeStatus(createErr) === 409) return { holder: undefined };
        throw createErr;
      }
    }
    const holder = lease.spec?.holderIdentity;
    if (!this.sighting.lapsed(lease, durationSeconds)) return { holder };
    lease.spec = heldSpec(lease.spec, this.identity, durationSeconds);
    try {
      // Guarded by the resourceVersion read: of two takers, one gets 409.
      return { lease: await api.replaceNamespacedLease({ name, namespace, body: lease }) };
    } catch (err) {
      if (kubeStatus(err) === 409) return { holder };
      throw err;
    }
  }

  /** Gives the lease back as taken (resourceVersion), with the notes; a lease taken over since is left alone. */
  private async release(lease: V1Lease, notes: Record<string, string>): Promise<void> {
    const { api, namespace, name } = this.opts;
    const annotations = { ...lease.metadata?.annotations, ...notes };
    const body: V1Lease = {
      ...lease,
      metadata: { ...lease.metadata, annotations },
      spec: releasedSpec(writableSpec(lease.spec)),
    };
    try {
      await api.replaceNamespacedLease({ name, namespace, body });
    } catch (err) {
      // Taken over after it lapsed (409), or the API server did not answer: the lease lapses by itself, and what
      // the notes said the next holder also learns from the chain (provider-tx.ts).
      this.opts.log?.warn('could not give the lease back; it lapses by itself', { lease: name, error: errorText(err) });
    }
  }
}
