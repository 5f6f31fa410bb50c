import { createHash } from 'node:crypto';
import type { CoreV1Api, V1ConfigMap } from '@kubernetes/client-node';
import { conflict, unavailable } from '../http/errors.ts';
import { ownerReferenceTo, readJobConfigMap, type JobConfigMap } from '../job/configmap.ts';
import { isJobId, jobNames } from '../job/names.ts';
import { isFinal } from '../job/status.ts';
import { kubeStatus } from '../kube/errors.ts';

/**
 * One order may back only one unfinished job. Each order a job uses is claimed by a small ConfigMap named after the
 * hash of (chain, transaction). The rules that make two concurrent starts unable to both win:
 *
 * - A claim is only ever created, never replaced: creation is atomic, and every claim has a uid of its own.
 * - A claim is taken over only when it provably backs nothing: its job has finished, or its job is gone after
 *   having existed (the claim was attached to it), or it is older than STALE_CLAIM_AFTER_MS with no job. Taking over
 *   deletes exactly the claim that was judged (uid and resourceVersion preconditions) and creates a new one.
 * - A request releases only the claims it created (uid precondition), so a loser never removes a winner's claim.
 * - The request that made a claim creates its job only within CLAIM_JOB_DEADLINE_MS of making it, then attaches
 *   every claim to the job by a patch that tests the claim's uid: a claim lost in between fails the patch, and the
 *   job is withdrawn. Once attached, a claim is owned by the job's ConfigMap and disappears with it.
 */
const CLAIM_LABELS = {
  'app.kubernetes.io/part-of': 'c2d',
  'app.kubernetes.io/component': 'order-claim',
} as const;

/** How long after making its claims a start request may still create its job (start answers in well under 1 s). */
export const CLAIM_JOB_DEADLINE_MS = 60_000;
/**
 * When a claim with no job may be taken over. Its age is read from the API server's creationTimestamp against this
 * process's clock, so the margin over CLAIM_JOB_DEADLINE_MS absorbs clock skew between them.
 */
export const STALE_CLAIM_AFTER_MS = 5 * 60_000;

export function claimName(chainId: number, txId: string): string {
  const digest = createHash('sha256').update(`${chainId}:${txId.toLowerCase()}`).digest('hex');
  return `c2d-order-${digest}`;
}

/** A claim this request created: its uid tells it apart from any later claim under the same name. */
export interface Claim {
  name: string;
  uid: string;
}

/** The claims of one start request, and when (this process's monotonic clock, ms) it began making them. */
export interface HeldClaims {
  claims: Claim[];
  since: number;
}

export interface AttachOutcome {
  /** Claims that are no longer this request's: taken over or removed. The job must not stand on them. */
  lost: Claim[];
  /** Claims that could not be attached for another reason; they still name the job, which keeps the order taken. */
  failed: { claim: Claim; error: unknown }[];
}

type Clock = { wallMs(): number; monotonicMs(): number };
const systemClock: Clock = { wallMs: () => Date.now(), monotonicMs: () => performance.now() };

export class OrderClaims {
  constructor(
    private readonly core: CoreV1Api,
    private readonly namespace: string,
    private readonly clock: Clock = systemClock,
  ) {}

  private async read(name: string): Promise<V1ConfigMap | undefined> {
    try {
      return await this.core.readNamespacedConfigMap({ name, namespace: this.namespace });
    } catch (err) {
      if (kubeStatus(err) === 404) return undefined;
      throw err;
    }
  }

  private async readJob(jobId: string): Promise<JobConfigMap | undefined> {
    try {
      return readJobConfigMap(
        await this.core.readNamespacedConfigMap({ name: jobNames(jobId).configMap, namespace: this.namespace }),
      );
    } catch (err) {
      if (kubeStatus(err) === 404) return undefined;
      throw err;
    }
  }

  /** Throws 409 unless `claim` provably backs no unfinished job, now or later. */
  private async assertFree(claim: V1ConfigMap, txId: string): Promise<void> {
    const jobId = claim.data?.jobId;
    const job = isJobId(jobId) ? await this.readJob(jobId) : undefined;
    if (job) {
      if (isFinal(job.status.code)) return;
      throw conflict(`order ${txId} already backs job ${job.workflow.jobId}, which has not finished`);
    }
    const attached =
      isJobId(jobId) && (claim.metadata?.ownerReferences ?? []).some((r) => r.name === jobNames(jobId).configMap);
    if (attached) return;
    const createdMs = claim.metadata?.creationTimestamp ? new Date(claim.metadata.creationTimestamp).getTime() : NaN;
    if (this.clock.wallMs() - createdMs > STALE_CLAIM_AFTER_MS) return;
    throw conflict(`order ${txId} is being used by another request`);
  }

  /** Creates the claim; undefined when one already exists under its name. */
  private async create(name: string, data: Record<string, string>): Promise<Claim | undefined> {
    try {
      const created = await this.core.createNamespacedConfigMap({
        namespace: this.namespace,
        body: { metadata: { name, labels: { ...CLAIM_LABELS } }, data },
      });
      const uid = created.metadata?.uid;
      if (!uid) throw new Error(`claim ${name} was created without a uid`);
      return { name, uid };
    } catch (err) {
      if (kubeStatus(err) === 409) return undefined;
      throw err;
    }
  }

  /** Deletes exactly the claim that was judged free; false when it changed or went in between. */
  private async remove(claim: V1ConfigMap): Promise<boolean> {
    const { name, uid, resourceVersion } = claim.metadata ?? {};
    if (!name || !uid || !resourceVersion) return false;
    try {
      await this.core.deleteNamespacedConfigMap({
        name,
        namespace: this.namespace,
        body: { preconditions: { uid, resourceVersion } },
      });
      return true;
    } catch (err) {
      const code = kubeStatus(err);
      if (code === 404 || code === 409) return false;
      throw err;
    }
  }

  private async claimOne(chainId: number, txId: string, jobId: string): Promise<Claim> {
    const name = claimName(chainId, txId);
    const data = { chainId: String(chainId), txId, jobId };
    // Two rounds: one to create or take over, one more when the claim vanished between our create and our read.
    for (let round = 0; round < 2; round++) {
      const made = await this.create(name, data);
      if (made) return made;
      const existing = await this.read(name);
      if (existing) {
        await this.assertFree(existing, txId);
        if (!(await this.remove(existing))) break;
      }
    }
    throw conflict(`order ${txId} is being used by another request`);
  }

  /**
   * Claims every order for `jobId`, or none: on a conflict the claims made so far are released. Orders are claimed
   * in one fixed order, so two requests sharing orders meet at the first shared one and only one goes on.
   */
  async claimAll(chainId: number, txIds: readonly string[], jobId: string): Promise<HeldClaims> {
    const held: HeldClaims = { claims: [], since: this.clock.monotonicMs() };
    try {
      for (const txId of [...new Set(txIds.map((t) => t.toLowerCase()))].sort()) {
        held.claims.push(await this.claimOne(chainId, txId, jobId));
      }
      return held;
    } catch (err) {
      await this.release(held);
      throw err;
    }
  }

  /** 503 once the claims are too old for their job to be created: another request may take them over by now. */
  assertInTime(held: HeldClaims): void {
    if (this.clock.monotonicMs() - held.since > CLAIM_JOB_DEADLINE_MS) {
      throw unavailable('the order claims expired before the job could be created, retry');
    }
  }

  /**
   * Makes every claim belong to the job's ConfigMap, so they go when the job goes. Each patch first tests the claim's
   * uid: a claim taken over in the meantime is reported lost, never re-owned. Every claim is tried.
   */
  async attach(held: HeldClaims, job: Pick<JobConfigMap, 'name' | 'uid'>): Promise<AttachOutcome> {
    const owner = { ...ownerReferenceTo(job), controller: false };
    const outcome: AttachOutcome = { lost: [], failed: [] };
    await Promise.all(
      held.claims.map(async (claim) => {
        try {
          await this.core.patchNamespacedConfigMap({
            name: claim.name,
            namespace: this.namespace,
            body: [
              { op: 'test', path: '/metadata/uid', value: claim.uid },
              { op: 'add', path: '/metadata/ownerReferences', value: [owner] },
            ],
          });
        } catch (err) {
          // 404: the claim is gone; 422: its uid is another claim's (the API server's answer to a failed test).
          const code = kubeStatus(err);
          if (code === 404 || code === 422) outcome.lost.push(claim);
          else outcome.failed.push({ claim, error: err });
        }
      }),
    );
    return outcome;
  }

  /** Deletes the claims this request made, and only those: a claim under the same name made by another is kept. */
  async release(held: HeldClaims): Promise<void> {
    const errors: unknown[] = [];
    for (const claim of held.claims) {
      try {
        await this.core.deleteNamespacedConfigMap({
          name: claim.name,
          namespace: this.namespace,
          body: { preconditions: { uid: claim.uid } },
        });
      } catch (err) {
        if (kubeStatus(err) !== 404 && kubeStatus(err) !== 409) errors.push(err);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'order claims not released');
  }
}
