import type { Caller } from '../auth/authenticate.ts';
import { conflict } from '../http/errors.ts';
import type { Logger } from '../http/log.ts';
import type { JobConfigMap } from '../job/configmap.ts';
import { initialStatus } from '../job/status.ts';
import type { JobSecretData, Workflow } from '../job/workflow.ts';
import type { LockedPayment } from './job-payment.ts';
import type { JobStore } from './jobs.ts';
import type { OrderClaims } from './order-claims.ts';

export interface AdmitDeps {
  chainId: number;
  jobs: JobStore;
  claims: OrderClaims;
  logger: Logger;
}

/** A paid job's escrow lock, taken once the job's orders are claimed and its nonce spent. */
export interface JobLock {
  acquire(): Promise<LockedPayment>;
  release(locked: LockedPayment): Promise<void>;
}

export interface Admission {
  caller: Caller;
  workflow: Workflow;
  secret: JobSecretData;
  /** Every order transaction the job stands on. */
  orders: readonly string[];
  lock?: JobLock;
  /** v2: the encrypted output target (hex), kept in the job's output Secret. */
  outputCiphertext?: string;
}

/**
 * Creates a checked job, v1 or v2 alike: the orders it stands on are claimed (409 when one still backs an unfinished
 * job or another request holds it), the nonce accepted, a paid job's price locked, the job's ConfigMap and Secret
 * created, and the claims attached to the job (see OrderClaims for why that makes one job per order). Whatever step
 * fails undoes the ones before it that can be undone: claims are released and a lock given back.
 */
async function releaseLock(deps: AdmitDeps, a: Admission, locked: LockedPayment | undefined): Promise<void> {
  if (!locked || !a.lock) return;
  await a.lock.release(locked).catch((error: unknown) =>
    deps.logger.error('could not release the escrow lock of a job that was not created', {
      jobId: a.workflow.jobId,
      error,
    }),
  );
}

export async function admitJob(deps: AdmitDeps, a: Admission, created: Date): Promise<JobConfigMap> {
  const held = await deps.claims.claimAll(deps.chainId, [...a.orders], a.workflow.jobId);
  let locked: LockedPayment | undefined;
  let job;
  try {
    await a.caller.commitNonce();
    locked = await a.lock?.acquire();
    deps.claims.assertInTime(held);
    job = await deps.jobs.create(a.workflow, initialStatus(created), a.secret, locked?.data, a.outputCiphertext);
  } catch (err) {
    await releaseLock(deps, a, locked);
    await deps.claims.release(held);
    throw err;
  }
  const attached = await deps.claims.attach(held, job);
  if (attached.lost.length > 0) {
    // Another request took an order over: it backs that request's job, so this one must not run.
    await deps.jobs.delete(job);
    await releaseLock(deps, a, locked);
    await deps.claims.release(held);
    throw conflict('an order of this job was taken by another request while the job was being created');
  }
  // A claim left unattached still names the job id, which is what keeps the order taken.
  for (const { claim, error } of attached.failed) {
    deps.logger.warn('order claim not attached to its job', { jobId: a.workflow.jobId, claim: claim.name, error });
  }
  return job;
}
