import type { Hono } from 'hono';
import { V2_BASE } from '../../lib/api/endpoints.ts';
import type { JobStore } from '../../lib/api/jobs.ts';
import { streamObject, type ObjectStore } from '../../lib/api/objects.ts';
import { findResult } from '../../lib/api/result-lookup.ts';
import { v2ResultQuery } from '../../lib/api/requests-v2.ts';
import { V2_COMMANDS } from '../../lib/auth/command-texts.ts';
import { authenticateV2, v2Credentials, type V2AuthDeps } from '../../lib/auth/v2-authenticate.ts';
import { notFound } from '../../lib/http/errors.ts';
import { validQuery } from '../../lib/http/validate.ts';

export interface ResultV2Deps {
  auth: V2AuthDeps;
  jobs: JobStore;
  objects: ObjectStore;
}

/**
 * GET /v2/api/services/computeResult?consumerAddress=&jobId=&index=&nonce=&signature= → the result file, streamed
 * from the object store, one byte range honoured (ocean.js 8.x resumes with `Range: bytes=N-`). Signed over
 * consumerAddress + nonce + "getComputeResult", or with an auth token; for the owner and the viewers it named.
 */
export function registerV2(app: Hono, deps: ResultV2Deps): void {
  app.get(`${V2_BASE}/api/services/computeResult`, validQuery(v2ResultQuery), async (c) => {
    const q = c.req.valid('query');
    const caller = await authenticateV2(deps.auth, V2_COMMANDS.result, v2Credentials(c.req.header('Authorization'), q));
    const job = await deps.jobs.getViewable(q.jobId, caller.address);
    const result = await findResult(deps.objects, job, q.index);
    if (!result) throw notFound(`result ${q.index} of the job`);
    await caller.commitNonce();
    return streamObject(deps.objects, result.key, { range: c.req.header('Range'), filename: result.filename });
  });
}
