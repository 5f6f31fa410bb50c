import type { Hono } from 'hono';
import { accessListReader } from '../../lib/access/access-list-contract.ts';
import { authorizeStart, type StartGrant } from '../../lib/access/authorize-start.ts';
import { assertAccess, type AccessListReader } from '../../lib/access/environment-access.ts';
import { admitJob } from '../../lib/api/admit-job.ts';
import { escrowFromRuntime } from '../../lib/api/escrow-payments.ts';
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
import type { Environment } from '../../lib/job/environments.ts';
import { newJobId } from '../../lib/job/names.ts';
import { parseWorkflow, WORKFLOW_VERSION } from '../../lib/job/workflow.ts';
import { registerV2 } from './v2.ts';

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
  /** The AccessList contracts of environments' `access` (and free tiers'), read on this chain. */
  accessLists: AccessListReader;
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
    await assertAccess(deps.accessLists, environment.access, caller.address, `environment ${environment.id}`);
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
    const job = await admitJob(deps, { caller, workflow, secret: grant.secret, orders: grant.orders }, created);
    return c.json([toOceanJob(job)]);
  });
  return app;
}

/** The app wired to the clients its environment configures. */
export function appFromRuntime(runtime: Runtime): Hono {
  const base = runtime.base('start');
  const access = accessSettings(runtime);
  const shared = {
    ...base,
    chainId: runtime.config.chainId,
    jobs: runtime.jobs(base.logger),
    claims: runtime.claims,
    environments: runtime.environments,
    authorize: (request: StartAuthorization) => authorizeStart(access, request),
    accessLists: accessListReader(access.chain),
  };
  const app = createApp({ ...shared, nonces: runtime.nonces });
  registerV2(app, {
    ...shared,
    auth: runtime.v2Auth,
    // ESCROW_ADDRESS set: paid jobs; unset, paid starts and priced quotes answer 400 (ESCROW_NOT_CONFIGURED).
    escrow: escrowFromRuntime(runtime),
    // OUTPUT_PUBLIC_KEY set: the publish pods hold its private half (c2d-output-key) and can decrypt `output`.
    outputTargets: runtime.config.outputPublicKey !== undefined,
  });
  return app;
}
