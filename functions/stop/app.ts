import type { Hono } from 'hono';
import { toOceanJob } from '../../lib/api/job-shape.ts';
import type { JobStore } from '../../lib/api/jobs.ts';
import { stopRequest } from '../../lib/api/requests.ts';
import type { BaseDeps, Runtime } from '../../lib/api/runtime.ts';
import { authenticateText } from '../../lib/auth/authenticate.ts';
import { stopText } from '../../lib/auth/signed-texts.ts';
import { createFunctionApp } from '../../lib/http/app.ts';
import { validJson } from '../../lib/http/validate.ts';
import { registerV2 } from './v2.ts';

export interface StopDeps extends BaseDeps {
  jobs: JobStore;
  now?: () => Date;
}

/**
 * PUT /api/services/compute {consumerAddress, jobId, signature} → the job, marked for the engine to stop.
 *
 * ocean.js 3.x signs `consumerAddress + jobId` without a nonce (see its computeStop), so a stop request can be
 * replayed at will. It is therefore idempotent and touches no nonce: a finished or already marked job is answered
 * as it is, the mark's time is the first request's, and the nonce ocean.js sends alongside is not read (a request
 * whose text does not cover its nonce must not be able to move it, or a replay with a huge nonce would lock the
 * address out of every later signed request).
 */
export function createApp(deps: StopDeps): Hono {
  const app = createFunctionApp({ name: 'stop', ...deps });
  const now = deps.now ?? (() => new Date());
  app.put('/api/services/compute', validJson(stopRequest), async (c) => {
    const body = c.req.valid('json');
    const caller = authenticateText({
      address: body.consumerAddress,
      signature: body.signature,
      message: stopText({ address: body.consumerAddress, jobId: body.jobId }),
    });
    const job = await deps.jobs.getOwned(body.jobId, caller);
    return c.json([toOceanJob(await deps.jobs.requestStop(job, now()))]);
  });
  return app;
}

/** The app wired to the clients its environment configures. */
export function appFromRuntime(runtime: Runtime): Hono {
  const base = runtime.base('stop');
  const jobs = runtime.jobs(base.logger);
  const app = createApp({ ...base, jobs });
  registerV2(app, { auth: runtime.v2Auth, jobs });
  return app;
}
