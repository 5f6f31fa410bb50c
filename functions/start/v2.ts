import type { Hono } from 'hono';
import type { StartGrant } from '../../lib/access/authorize-start.ts';
import { assertAccess, type AccessListReader } from '../../lib/access/environment-access.ts';
import { AccessDenied } from '../../lib/access/errors.ts';
import { initializeField } from '../../lib/access/quote-initialize.ts';
import { admitJob, type AdmitDeps, type JobLock } from '../../lib/api/admit-job.ts';
import { V2_BASE } from '../../lib/api/endpoints.ts';
import { requireEnvironment, type EnvironmentSource } from '../../lib/api/environments.ts';
import { ESCROW_NOT_CONFIGURED, type EscrowPayments } from '../../lib/api/job-payment.ts';
import { toV2Job } from '../../lib/api/job-shape-v2.ts';
import {
  requireFreeTier,
  resolveDuration,
  resolveJobSize,
  resourceAmounts,
  type Tier,
} from '../../lib/api/job-terms-v2.ts';
import {
  freeStartRequest,
  OUTPUT_NOT_CONFIGURED,
  paidStartRequest,
  type FreeStartRequest,
} from '../../lib/api/requests-v2.ts';
import type { Caller } from '../../lib/auth/authenticate.ts';
import { V2_COMMANDS } from '../../lib/auth/command-texts.ts';
import { authenticateV2, v2Credentials, type V2AuthDeps } from '../../lib/auth/v2-authenticate.ts';
import { badRequest, conflict } from '../../lib/http/errors.ts';
import { validJson } from '../../lib/http/validate.ts';
import type { Environment, JobSize } from '../../lib/job/environments.ts';
import { newJobId } from '../../lib/job/names.ts';
import { parseWorkflow, WORKFLOW_VERSION } from '../../lib/job/workflow.ts';
import type { StartAuthorization } from './app.ts';

export interface StartV2Deps extends AdmitDeps {
  auth: V2AuthDeps;
  environments: EnvironmentSource;
  authorize(request: StartAuthorization): Promise<StartGrant>;
  /** The AccessList contracts of the environment's and the free tier's `access`, read on this chain. */
  accessLists: AccessListReader;
  /** The escrow side of paid jobs (lib/api/job-payment.ts); undefined while none is configured. */
  escrow: EscrowPayments | undefined;
  /** Whether the provider has an output key (OUTPUT_PUBLIC_KEY), without which no `output` can ever be decrypted. */
  outputTargets: boolean;
  now?: () => Date;
}

interface V2Start {
  body: FreeStartRequest;
  caller: Caller;
  environment: Environment;
  size: JobSize;
  durationSeconds: number;
  tier: Tier;
  jobId: string;
  lock?: JobLock;
}

/**
 * The access checks of v1's start (DDOs, compute policy, every order), with refusals named by v2's fields. A v2 job
 * pays the environment through the escrow or not at all (free tier), so its orders' provider fees are not held to
 * the v1 price (`fees` left out): v2 initializeCompute issues them at 0.
 */
async function authorizeV2(deps: StartV2Deps, job: V2Start): Promise<StartGrant> {
  const [dataset, ...additionalDatasets] = job.body.datasets;
  try {
    return await deps.authorize({
      consumer: job.caller.address,
      dataset: dataset!,
      additionalDatasets,
      algorithm: job.body.algorithm,
      environment: { ...job.environment, fees: [] },
    });
  } catch (err) {
    if (err instanceof AccessDenied) throw new AccessDenied(err.code, err.message, initializeField(err.field));
    throw err;
  }
}

function assertOutputTargets(deps: StartV2Deps, body: FreeStartRequest): void {
  if (body.output !== undefined && !deps.outputTargets) throw badRequest('output', OUTPUT_NOT_CONFIGURED);
}

async function startV2(deps: StartV2Deps, job: V2Start) {
  const grant = await authorizeV2(deps, job);
  const created = (deps.now ?? (() => new Date()))();
  const owner = job.caller.address.toLowerCase();
  const viewers = [...new Set((job.body.additionalViewers ?? []).map((v) => v.toLowerCase()))].filter(
    (v) => v !== owner,
  );
  const workflow = parseWorkflow({
    version: WORKFLOW_VERSION,
    jobId: job.jobId,
    owner,
    environment: job.environment.id,
    agreementId: grant.datasets[0]!.transferTxId,
    dateCreated: created.toISOString(),
    datasets: grant.datasets,
    algorithm: grant.algorithm,
    allowNetworkAccess: grant.allowNetworkAccess,
    limits: { maxDurationSeconds: Math.min(job.durationSeconds, grant.maxDurationSeconds), ...job.size },
    ...(job.body.algorithm.algocustomdata !== undefined && { algoCustomData: job.body.algorithm.algocustomdata }),
    ...(viewers.length > 0 && { viewers }),
    ...(job.body.metadata !== undefined && { metadata: job.body.metadata }),
    ...(job.body.output !== undefined && { outputTarget: true }),
    billing: job.tier === 'free' ? 'free' : 'escrow',
  });
  const admitted = await admitJob(
    deps,
    {
      caller: job.caller,
      workflow,
      secret: grant.secret,
      orders: grant.orders,
      ...(job.lock && { lock: job.lock }),
      ...(job.body.output !== undefined && { outputCiphertext: job.body.output }),
    },
    created,
  );
  return toV2Job(admitted);
}

/**
 * v2 start (ocean-node's src/components/core/compute/startCompute.ts), beside v1's on the same function:
 * POST /v2/api/services/freeCompute → `[job]`: a job on the environment's free tier, within its resources, duration,
 * concurrent jobs and access list; signed over consumerAddress + nonce + "freeStartCompute", or with an auth token.
 * POST /v2/api/services/compute → `[job]`: a paid job whose price the escrow locks before it is created; signed over
 * consumerAddress + nonce + "startCompute". Without an escrow configured it answers 400 (ESCROW_NOT_CONFIGURED).
 * Both run every access check of v1's start on `datasets` (orders included), take `resources`, `maxJobDuration`,
 * `metadata`, `additionalViewers` (who may also read the job) and `output` (the consumer's own storage target for
 * the outputs, encrypted: kept in a Secret for the publish pod, the only place it is decrypted), and create the job
 * exactly as v1 does.
 */
export function registerV2(app: Hono, deps: StartV2Deps): void {
  app.post(`${V2_BASE}/api/services/freeCompute`, validJson(freeStartRequest), async (c) => {
    const body = c.req.valid('json');
    const caller = await authenticateV2(
      deps.auth,
      V2_COMMANDS.freeStart,
      v2Credentials(c.req.header('Authorization'), body),
    );
    assertOutputTargets(deps, body);
    const environment = await requireEnvironment(deps.environments, body.environment, 'environment');
    const free = requireFreeTier(environment);
    const size = resolveJobSize(environment, body.resources, 'free');
    const durationSeconds = resolveDuration(environment, body.maxJobDuration, 'free');
    // Only the free tier's own list, as ocean-node's FreeComputeStartHandler: the environment's is for paid jobs.
    await assertAccess(deps.accessLists, free.access, caller.address, `the free tier of environment ${environment.id}`);
    // Counted, not reserved: starts racing each other may pass together, by at most their number.
    const running = (await deps.jobs.listUnfinished(environment.id)).filter((j) => j.workflow.billing === 'free');
    if (running.length >= free.maxConcurrentJobs) {
      throw conflict(`the free tier of environment ${environment.id} runs its ${free.maxConcurrentJobs} jobs already`);
    }
    const job = { body, caller, environment, size, durationSeconds, tier: 'free' as const, jobId: newJobId() };
    return c.json([await startV2(deps, job)]);
  });

  app.post(`${V2_BASE}/api/services/compute`, validJson(paidStartRequest), async (c) => {
    const body = c.req.valid('json');
    const caller = await authenticateV2(
      deps.auth,
      V2_COMMANDS.start,
      v2Credentials(c.req.header('Authorization'), body),
    );
    assertOutputTargets(deps, body);
    const environment = await requireEnvironment(deps.environments, body.environment, 'environment');
    const escrow = deps.escrow;
    if (!escrow) throw badRequest('payment', ESCROW_NOT_CONFIGURED);
    if (body.payment.chainId !== deps.chainId) {
      throw badRequest('payment.chainId', `this provider takes payments on chain ${deps.chainId} only`);
    }
    const size = resolveJobSize(environment, body.resources ?? body.payment.resources, 'paid');
    const durationSeconds = resolveDuration(environment, body.maxJobDuration, 'paid');
    await assertAccess(deps.accessLists, environment.access, caller.address, `environment ${environment.id}`);
    const quote = await escrow.quote({
      environment,
      chainId: body.payment.chainId,
      token: body.payment.token,
      resources: resourceAmounts(size),
      maxJobDurationSeconds: durationSeconds,
      payee: environment.consumerAddress,
    });
    const jobId = newJobId();
    const lock: JobLock = {
      acquire: () => escrow.lockJobPayment({ jobId, owner: caller.address.toLowerCase() }, quote),
      release: (locked) => escrow.releaseJobPayment(locked),
    };
    const job = { body, caller, environment, size, durationSeconds, tier: 'paid' as const, jobId, lock };
    return c.json([await startV2(deps, job)]);
  });
}
