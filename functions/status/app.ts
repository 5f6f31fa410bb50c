import type { Hono } from 'hono';
import { toOceanJob } from '../../lib/api/job-shape.ts';
import type { JobStore } from '../../lib/api/jobs.ts';
import { bareTxHash } from '../../lib/api/fields.ts';
import { statusQuery } from '../../lib/api/requests.ts';
import type { BaseDeps, Runtime } from '../../lib/api/runtime.ts';
import type { NonceStore } from '../../lib/auth/nonce-store.ts';
import { statusText } from '../../lib/auth/signed-texts.ts';
import { HttpError } from '../../lib/http/errors.ts';
import { createFunctionApp } from '../../lib/http/app.ts';
import { validQuery } from '../../lib/http/validate.ts';
import { registerV2 } from './v2.ts';

export interface StatusDeps extends BaseDeps {
  jobs: JobStore;
  nonces: NonceStore;
  /** Refuse unsigned requests (STATUS_REQUIRES_SIGNATURE). */
  requireSignature?: boolean;
}

/**
 * GET /api/services/compute?consumerAddress=&jobId=&documentId=&agreementId=&nonce=&signature= → the caller's jobs
 * in Ocean's shape. ocean.js 3.x does not sign status requests, so by default anyone may ask about any address. A
 * signed request (signature over consumerAddress + jobId + nonce + "computeStatus") is held to its signature and
 * nonce; with `requireSignature` only signed requests are answered.
 */
export function createApp(deps: StatusDeps): Hono {
  const app = createFunctionApp({ name: 'status', ...deps });
  app.get('/api/services/compute', validQuery(statusQuery), async (c) => {
    const q = c.req.valid('query');
    if (q.signature !== undefined && q.nonce !== undefined) {
      // Signed status requests are rare (ocean.js does not sign them): the signature code is loaded for the first.
      const { authenticate } = await import('../../lib/auth/authenticate.ts');
      const caller = await authenticate(deps.nonces, {
        address: q.consumerAddress,
        nonce: q.nonce,
        signature: q.signature,
        message: statusText({ address: q.consumerAddress, jobId: q.jobId, nonce: q.nonce }),
      });
      await caller.commitNonce();
    } else if (deps.requireSignature) {
      throw new HttpError(
        401,
        'this provider answers only signed status requests',
        'signature',
        'is required, with nonce',
      );
    }
    const jobs = q.jobId
      ? [await deps.jobs.getOwned(q.jobId, q.consumerAddress)]
      : await deps.jobs.listOwned(q.consumerAddress);
    const selected = jobs.filter(
      (job) =>
        (q.documentId === undefined || job.workflow.datasets.some((d) => d.did === q.documentId)) &&
        (q.agreementId === undefined || bareTxHash(job.workflow.agreementId) === q.agreementId),
    );
    return c.json(selected.map(toOceanJob));
  });
  return app;
}

/**
 * The app wired to the clients its environment configures. Jobs are read from a watch of the job ConfigMaps once it
 * has synced (lib/api/job-cache.ts): a status request then costs no Kubernetes call, except for a job the watch has
 * not delivered yet, which is read directly.
 */
export function appFromRuntime(runtime: Runtime): Hono {
  const base = runtime.base('status');
  const jobs = runtime.jobs(base.logger, { cache: true });
  const requireSignature = runtime.config.statusRequiresSignature;
  const app = createApp({ ...base, jobs, nonces: runtime.nonces, requireSignature });
  registerV2(app, { jobs, tokens: runtime.tokens, requireSignature });
  return app;
}
