import type { Hono } from 'hono';
import { authorizeStart, type StartGrant } from '../../lib/access/authorize-start.ts';
import { requireEnvironment, type EnvironmentSource } from '../../lib/api/environments.ts';
import { toOceanJob } from '../../lib/api/job-shape.ts';
import type { JobStore } from '../../lib/api/jobs.ts';
import type { OrderClaims } from '../../lib/api/order-claims.ts';
import { startRequest, type ComputeAlgorithm, type ComputeAsset } from '../../lib/api/requests.ts';
import { accessSettings } from '../../lib/api/access-settings.ts';
import type { BaseDeps, Runtime } from '../../lib/api/runtime.ts';
import { authenticate } from '../../lib/auth/authenticate.ts';
import type { NonceStore } from '../../lib/auth/nonce-store.ts';
import { startText } from '../../lib/auth/signed-texts.ts';
import { createFunctionApp } from '../../lib/http/app.ts';
import { validJson } from '../../lib/http/validate.ts';
import { conflict } from '../../lib/http/errors.ts';
import type { Environment } from '../../lib/job/environments.ts';
import { newJobId } from '../../lib/job/names.ts';
import { initialStatus } from '../../lib/job/status.ts';
import { parseWorkflow, WORKFLOW_VERSION } from '../../lib/job/workflow.ts';

/** What `start` asks the access checks (DDOs, compute policy, orders, provider fees, decrypted files). */
export interface StartAuthorization {
  /** Checksummed address that signed the request. */
  consumer: string;
  dataset: ComputeAsset;
  additionalDatasets: ComputeAsset[];
  algorithm: ComputeAlgorithm;
  environment: Environment;
}

export interface StartDeps extends BaseDeps {
  chainId: number;
  nonces: NonceStore;
  jobs: JobStore;
  claims: OrderClaims;
  environments: EnvironmentSource;
  authorize(request: StartAuthorization): Promise<StartGrant>;
  now?: () => Date;
}

/**
 * POST /api/services/compute {dataset, algorithm, additionalDatasets?, environment, consumerAddress, nonce,
 * signature} → `[job]` with status 1. Signed text: consumerAddress + dataset.documentId + nonce.
 * Every access check runs before anything is stored; the orders the job stands on are then claimed (409 when one
 * still backs an unfinished job or another request holds it), the nonce accepted, the job's ConfigMap and Secret
 * created, and the claims attached to the job (see OrderClaims for why that makes one job per order). The job may run
 * as long as its provider fees were paid for, at most the environment's maximum.
 */
export function createApp(deps: StartDeps): Hono {
  const app = createFunctionApp({ name: 'start', ...deps });
  const now = deps.now ?? (() => new Date());
  app.post('/api/services/compute', validJson(startRequest), async (c) => {
    const body = c.req.valid('json');
    const caller = await authenticate(deps.nonces, {
      address: body.consumerAddress,
      nonce: body.nonce,
      signature: body.signature,
      message: startText({ address: body.consumerAddress, documentId: body.dataset.documentId, nonce: body.nonce }),
    });
    const environment = await requireEnvironment(deps.environments, body.environment, 'environment');
    const additionalDatasets = body.additionalDatasets ?? [];
    const grant = await deps.authorize({
      consumer: caller.address,
      dataset: body.dataset,
      additionalDatasets,
      algorithm: body.algorithm,
      environment,
    });
    const created = now();
    const workflow = parseWorkflow({
      version: WORKFLOW_VERSION,
      jobId: newJobId(),
      owner: caller.address.toLowerCase(),
      environment: environment.id,
      agreementId: body.dataset.transferTxId,
      dateCreated: created.toISOString(),
      datasets: grant.datasets,
      algorithm: grant.algorithm,
      allowNetworkAccess: grant.allowNetworkAccess,
      limits: {
        maxDurationSeconds: grant.maxDurationSeconds,
        cpu: environment.cpu,
        memoryMiB: environment.memoryMiB,
        diskMiB: environment.diskMiB,
      },
      ...(body.algorithm.algocustomdata !== undefined && { algoCustomData: body.algorithm.algocustomdata }),
    });
    const held = await deps.claims.claimAll(deps.chainId, grant.orders, workflow.jobId);
    let job;
    try {
      await caller.commitNonce();
      deps.claims.assertInTime(held);
      job = await deps.jobs.create(workflow, initialStatus(created), grant.secret);
    } catch (err) {
      await deps.claims.release(held);
      throw err;
    }
    const attached = await deps.claims.attach(held, job);
    if (attached.lost.length > 0) {
      // Another request took an order over: it backs that request's job, so this one must not run.
      await deps.jobs.delete(job);
      await deps.claims.release(held);
      throw conflict('an order of this job was taken by another request while the job was being created');
    }
    // A claim left unattached still names the job id, which is what keeps the order taken.
    for (const { claim, error } of attached.failed) {
      deps.logger.warn('order claim not attached to its job', { jobId: workflow.jobId, claim: claim.name, error });
    }
    return c.json([toOceanJob(job)]);
  });
  return app;
}

/** The app wired to the clients its environment configures. */
export function appFromRuntime(runtime: Runtime): Hono {
  const base = runtime.base('start');
  const access = accessSettings(runtime);
  return createApp({
    ...base,
    chainId: runtime.config.chainId,
    nonces: runtime.nonces,
    jobs: runtime.jobs(base.logger),
    claims: runtime.claims,
    environments: runtime.environments,
    authorize: (request) => authorizeStart(access, request),
  });
}
