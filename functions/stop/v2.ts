import type { Hono } from 'hono';
import { V2_BASE } from '../../lib/api/endpoints.ts';
import { bareTxHash } from '../../lib/api/fields.ts';
import { notFound } from '../../lib/http/errors.ts';
import { toV2Job } from '../../lib/api/job-shape-v2.ts';
import type { JobStore } from '../../lib/api/jobs.ts';
import { v2StopQuery } from '../../lib/api/requests-v2.ts';
import { V2_COMMANDS } from '../../lib/auth/command-texts.ts';
import { authenticateV2, v2Credentials, type V2AuthDeps } from '../../lib/auth/v2-authenticate.ts';
import { validQuery } from '../../lib/http/validate.ts';

export interface StopV2Deps {
  auth: V2AuthDeps;
  jobs: JobStore;
  now?: () => Date;
}

/**
 * PUT /v2/api/services/compute?consumerAddress=&nonce=&signature=&jobId=&agreementId= (ocean.js 8.x sends no body)
 * → `[job]`, marked for the engine to stop. Signed over consumerAddress + nonce + "stopCompute", or with an auth
 * token; only the job's owner may stop it, and an agreementId, when given, must be the job's. Unlike v1's stop, the
 * text covers a nonce, which is spent.
 */
export function registerV2(app: Hono, deps: StopV2Deps): void {
  const now = deps.now ?? (() => new Date());
  app.put(`${V2_BASE}/api/services/compute`, validQuery(v2StopQuery), async (c) => {
    const q = c.req.valid('query');
    const caller = await authenticateV2(deps.auth, V2_COMMANDS.stop, v2Credentials(c.req.header('Authorization'), q));
    const job = await deps.jobs.getOwned(q.jobId, caller.address);
    if (q.agreementId && bareTxHash(q.agreementId) !== bareTxHash(job.workflow.agreementId)) {
      throw notFound('job with that agreementId');
    }
    await caller.commitNonce();
    return c.json([toV2Job(await deps.jobs.requestStop(job, now()))]);
  });
}
