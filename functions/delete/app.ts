import type { Hono } from 'hono';
import { toOceanJob } from '../../lib/api/job-shape.ts';
import type { JobStore } from '../../lib/api/jobs.ts';
import { deleteObjects, listKeys, type ObjectStore } from '../../lib/api/objects.ts';
import { deleteRequest } from '../../lib/api/requests.ts';
import type { BaseDeps, Runtime } from '../../lib/api/runtime.ts';
import { authenticate } from '../../lib/auth/authenticate.ts';
import type { NonceStore } from '../../lib/auth/nonce-store.ts';
import { deleteText } from '../../lib/auth/signed-texts.ts';
import { conflict } from '../../lib/http/errors.ts';
import { createFunctionApp } from '../../lib/http/app.ts';
import { validJson } from '../../lib/http/validate.ts';
import { jobResultsPrefix } from '../../lib/job/results-manifest.ts';
import { isFinal } from '../../lib/job/status.ts';

export interface DeleteDeps extends BaseDeps {
  jobs: JobStore;
  nonces: NonceStore;
  objects: ObjectStore;
}

/**
 * DELETE /api/services/compute {consumerAddress, jobId, documentId?, nonce?, signature} → the deleted job.
 * Removes a finished job's stored results and the job itself (its pods, volume and Secret go with it).
 * Signed text: consumerAddress + jobId + documentId + nonce; ocean.js sends no nonce and signs the one GET /api/services/nonce reports + 1.
 */
export function createApp(deps: DeleteDeps): Hono {
  const app = createFunctionApp({ name: 'delete', ...deps });
  app.delete('/api/services/compute', validJson(deleteRequest), async (c) => {
    const body = c.req.valid('json');
    const nonce = body.nonce ?? (await deps.nonces.current(body.consumerAddress)) + 1n;
    const caller = await authenticate(deps.nonces, {
      address: body.consumerAddress,
      nonce,
      signature: body.signature,
      message: deleteText({ address: body.consumerAddress, jobId: body.jobId, documentId: body.documentId, nonce }),
    });
    const job = await deps.jobs.getOwned(body.jobId, caller.address);
    if (!isFinal(job.status.code)) throw conflict('the job has not finished; stop it first');
    // Its record is what the engine settles the escrow lock from (engine/planner.ts holds its own deletion too).
    if (job.settling) throw conflict("the job's escrow payment is still being settled; delete it once that is done");
    await caller.commitNonce();
    // Everything the job stored: its status lists only a summary of the results, and not the manifest.
    await deleteObjects(deps.objects, await listKeys(deps.objects, jobResultsPrefix(job.workflow.jobId)));
    await deps.jobs.delete(job);
    return c.json([{ ...toOceanJob(job), results: [] }]);
  });
  return app;
}

/** The app wired to the clients its environment configures. */
export function appFromRuntime(runtime: Runtime): Hono {
  const base = runtime.base('delete');
  return createApp({ ...base, jobs: runtime.jobs(base.logger), nonces: runtime.nonces, objects: runtime.objects });
}
