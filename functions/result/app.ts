import type { Hono } from 'hono';
import type { JobStore } from '../../lib/api/jobs.ts';
import { streamObject, type ObjectStore } from '../../lib/api/objects.ts';
import { findResult } from '../../lib/api/result-lookup.ts';
import { resultQuery } from '../../lib/api/requests.ts';
import type { BaseDeps, Runtime } from '../../lib/api/runtime.ts';
import { authenticate } from '../../lib/auth/authenticate.ts';
import type { NonceStore } from '../../lib/auth/nonce-store.ts';
import { resultText } from '../../lib/auth/signed-texts.ts';
import { notFound } from '../../lib/http/errors.ts';
import { createFunctionApp } from '../../lib/http/app.ts';
import { validQuery } from '../../lib/http/validate.ts';
import { registerV2 } from './v2.ts';

export interface ResultDeps extends BaseDeps {
  jobs: JobStore;
  nonces: NonceStore;
  objects: ObjectStore;
}

/**
 * GET /api/services/computeResult?consumerAddress=&jobId=&index=&nonce=&signature= → the result file, streamed
 * from the object store (one byte range honoured). Signed text: consumerAddress + jobId + index + nonce, the URL
 * ocean.js's getComputeResultUrl builds. Only the job's owner gets it.
 */
export function createApp(deps: ResultDeps): Hono {
  const app = createFunctionApp({ name: 'result', ...deps });
  app.get('/api/services/computeResult', validQuery(resultQuery), async (c) => {
    const q = c.req.valid('query');
    const caller = await authenticate(deps.nonces, {
      address: q.consumerAddress,
      nonce: q.nonce,
      signature: q.signature,
      message: resultText({ address: q.consumerAddress, jobId: q.jobId, index: q.index, nonce: q.nonce }),
    });
    const job = await deps.jobs.getOwned(q.jobId, caller.address);
    const result = await findResult(deps.objects, job, q.index);
    if (!result) throw notFound(`result ${q.index} of the job`);
    await caller.commitNonce();
    return streamObject(deps.objects, result.key, { range: c.req.header('Range'), filename: result.filename });
  });
  return app;
}

/** The app wired to the clients its environment configures. */
export function appFromRuntime(runtime: Runtime): Hono {
  const base = runtime.base('result');
  const jobs = runtime.jobs(base.logger);
  const app = createApp({ ...base, jobs, nonces: runtime.nonces, objects: runtime.objects });
  registerV2(app, { auth: runtime.v2Auth, jobs, objects: runtime.objects });
  return app;
}
