import type { CoreV1Api, V1ConfigMap } from '@kubernetes/client-node';
import { errorText, type Logger } from '../lib/http/log.ts';
import { LABELS, jobIdFromName, jobSelector } from '../lib/job/names.ts';
import type { OrphanLockChain } from '../lib/payment/escrow.ts';
import { escrowLockId } from '../lib/payment/lock-policy.ts';
import { lockKey, planOrphanSweep } from '../lib/payment/orphan-locks.ts';
import { readSettlement } from '../lib/payment/record.ts';

/**
 * Gives back the escrow locks no job will settle (lib/payment/orphan-locks.ts decides which), one bounded pass every
 * `intervalMs` while this engine leads. Which jobs exist is read from the API server each pass (a consistent list,
 * not the engine's watch cache), so a lock is never taken for an orphan because the cache lags.
 */

export interface OrphanSweepDeps {
  chain: OrphanLockChain;
  api: Pick<CoreV1Api, 'listNamespacedConfigMap'>;
  namespace: string;
  log: Logger;
  /** How long a lock must have had no job, as seen by this engine, before it is given back. */
  minAgeMs: number;
  intervalMs: number;
  /** At most this many transactions per pass. */
  maxPerPass: number;
  clock?: () => number;
}

/** Job ConfigMaps are listed in pages of this many. */
const PAGE = 500;

export class OrphanSweeper {
  private unownedSince = new Map<string, number>();
  /** The transaction sent for each lock given back, until the lock is gone. */
  private readonly sent = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly clock: () => number;

  constructor(private readonly deps: OrphanSweepDeps) {
    this.clock = deps.clock ?? (() => performance.now());
  }

  start(): void {
    this.stopped = false;
    const tick = (): void => {
      if (this.stopped) return;
      this.running = this.pass().then(
        () => undefined,
        (err: unknown) =>
          this.deps.log.warn('orphan escrow lock sweep failed; trying again', { error: errorText(err) }),
      );
      void this.running.then(() => {
        if (!this.stopped) this.timer = setTimeout(tick, this.deps.intervalMs);
      });
    };
    tick();
  }

  /** Stops sweeping; resolves once a pass under way has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** One pass; returns how many locks it gave back. */
  async pass(): Promise<number> {
    const { chain, log } = this.deps;
    const { locks, blockTime } = await chain.openLocks();
    if (locks.length === 0) {
      this.unownedSince.clear();
      this.sent.clear();
      return 0;
    }
    const owned = await this.ownedLockIds();
    const open = new Set(locks.map(lockKey));
    const pending = new Set<string>();
    for (const [key, hash] of this.sent) {
      if (!open.has(key)) this.sent.delete(key);
      else if (await chain.pending(hash)) pending.add(key);
    }
    const plan = planOrphanSweep({
      locks,
      owned,
      unownedSince: this.unownedSince,
      pending,
      now: this.clock(),
      blockTime,
      minAgeMs: this.deps.minAgeMs,
      maxPerPass: this.deps.maxPerPass,
    });
    this.unownedSince = plan.unownedSince;
    let released = 0;
    for (const release of plan.release) {
      // A stopping engine does not wait for the provider transaction lease once more.
      if (this.stopped) break;
      const { lock, action } = release;
      const fields = {
        lockId: lock.lockId.toString(),
        payer: lock.payer,
        token: lock.token,
        amount: lock.amount.toString(),
        action,
      };
      try {
        const hash = await chain.release(release);
        this.sent.set(lockKey(lock), hash);
        released++;
        log.warn('gave back an escrow lock no job settles', { ...fields, tx: hash });
      } catch (err) {
        log.error('could not give back an orphan escrow lock', { ...fields, error: errorText(err) });
      }
    }
    return released;
  }

  /** The lock ids of every job that exists and has not recorded how its lock ended. */
  private async ownedLockIds(): Promise<Set<string>> {
    const owned = new Set<string>();
    let page: string | undefined;
    do {
      const list = await this.deps.api.listNamespacedConfigMap({
        namespace: this.deps.namespace,
        labelSelector: jobSelector('workflow'),
        limit: PAGE,
        ...(page !== undefined && { _continue: page }),
      });
      for (const cm of list.items) {
        const jobId = cm.metadata?.labels?.[LABELS.jobId] ?? jobIdFromName(cm.metadata?.name ?? '');
        if (jobId && !settled(cm)) owned.add(escrowLockId(jobId).toString());
      }
      page = list.metadata?._continue || undefined;
    } while (page !== undefined);
    return owned;
  }
}

/** Whether the job recorded how its lock ended; an unreadable record counts as not (its lock stays its own). */
function settled(cm: V1ConfigMap): boolean {
  try {
    return readSettlement(cm)?.outcome !== undefined;
  } catch {
    return false;
  }
}
