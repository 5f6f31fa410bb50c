import type { Hono } from 'hono';
import { toOceanJob } from '../../lib/api/job-shape.ts';
import type { JobStore } from '../../lib/api/jobs.ts';
import { stopRequest } from '../../lib/api/requests.ts';
import type { BaseDeps, Runtime } from '../../lib/api/runtime.ts';
import { authenticate } from '../../lib/auth/authenticate.ts';
import type { NonceStore } from '../../lib/auth/nonce-store.ts';
import { createFunctionApp, parseJsonBody } from '../../lib/http/app.ts';
import type { JobConfigMap } from '../../lib/job/configmap.ts';
import { isFinal } from '../../lib/job/status.ts';

export interface StopDeps extends BaseDeps {
  jobs: JobStore;
  nonces: NonceStore;
  now?: () => Date;
}

/**
 * PUT /api/services/compute {consumerAddress, jobId?, agreementId?, nonce, signature} → the stopped jobs.
 * Marks the job for the engine to stop; a finished job is answered as it is, and asking twice changes nothing.
 * Without jobId, every unfinished job of the caller (under agreementId, when given) is stopped.
 *
 * ocean.js 3.x signs `consumerAddress + jobId` without the nonce (see its computeStop); the nonce is still
 * required to grow. Clients that include the nonce in the signed text are accepted too.
 */
export function createApp(deps: StopDeps): Hono {
  const app = createFunctionApp({ name: 'stop', ...deps });
  const now = deps.now ?? (() => new Date());
  app.put('/api/services/compute', async (c) => {
    const body = await parseJsonBody(c, stopRequest);
    const signed = `${body.consumerAddress}${body.jobId ?? ''}`;
    const caller = await authenticate(deps.nonces, {
      address: body.consumerAddress,
      nonce: body.nonce,
      signature: body.signature,
      messages: [`${signed}${body.nonce}`, signed],
    });
    const targets: JobConfigMap[] = body.jobId
      ? [await deps.jobs.getOwned(body.jobId, caller.address)]
      : (await deps.jobs.listOwned(caller.address)).filter(
          (job) =>
            !isFinal(job.status.code) &&
            (body.agreementId === undefined ||
              job.workflow.agreementId.replace(/^0x/i, '').toLowerCase() === body.agreementId),
        );
    await caller.commitNonce();
    const answered: JobConfigMap[] = [];
    for (const job of targets) {
      const alreadyMarked = isFinal(job.status.code) || job.stopRequestedAt !== undefined;
      answered.push(alreadyMarked ? job : await deps.jobs.requestStop(job, now()));
    }
    return c.json(answered.map(toOceanJob));
  });
  return app;
}

/** The app wired to the clients its environment configures. */
export function appFromRuntime(runtime: Runtime): Hono {
  const base = runtime.base('stop');
  return createApp({ ...base, jobs: runtime.jobs(base.logger), nonces: runtime.nonces });
}
