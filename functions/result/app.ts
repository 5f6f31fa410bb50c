import type { Hono } from 'hono';
import type { JobStore } from '../../lib/api/jobs.ts';
import { readObjectText, streamObject, type ObjectStore } from '../../lib/api/objects.ts';
import { resultQuery } from '../../lib/api/requests.ts';
import type { BaseDeps, Runtime } from '../../lib/api/runtime.ts';
import { authenticate } from '../../lib/auth/authenticate.ts';
import type { NonceStore } from '../../lib/auth/nonce-store.ts';
import { resultText } from '../../lib/auth/signed-texts.ts';
import { notFound } from '../../lib/http/errors.ts';
import { createFunctionApp } from '../../lib/http/app.ts';
import { validQuery } from '../../lib/http/validate.ts';
import type { JobConfigMap } from '../../lib/job/configmap.ts';
import { MAX_MANIFEST_BYTES, parseResultsManifest, resultsManifestKey } from '../../lib/job/results-manifest.ts';
import type { Result } from '../../lib/job/status.ts';

export interface ResultDeps extends BaseDeps {
  jobs: JobStore;
  nonces: NonceStore;
  objects: ObjectStore;
}

/**
 * A result by index: from the status's summary, or, for an index the summary leaves out (but within the count the
 * status records), from the job's results manifest in the store.
 */
async function findResult(objects: ObjectStore, job: JobConfigMap, index: number): Promise<Result | undefined> {
  const listed = job.status.results.find((r) => r.index === index);
  if (listed || index >= (job.status.resultsTotal ?? 0)) return listed;
  const text = await readObjectText(objects, resultsManifestKey(job.workflow.jobId), MAX_MANIFEST_BYTES);
  if (text === undefined) return undefined;
  const all = parseResultsManifest(job.workflow.jobId, text);
  if (!Array.isArray(all)) throw new Error(all.error);
  return all[index];
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
  return createApp({ ...base, jobs: runtime.jobs(base.logger), nonces: runtime.nonces, objects: runtime.objects });
}
