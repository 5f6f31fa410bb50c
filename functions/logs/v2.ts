import type { Hono } from 'hono';
import { V2_BASE } from '../../lib/api/endpoints.ts';
import type { JobStore } from '../../lib/api/jobs.ts';
import { streamObject, type ObjectStore } from '../../lib/api/objects.ts';
import { streamPodLog, type PodLogSource } from '../../lib/api/pod-logs.ts';
import { v2LogsQuery } from '../../lib/api/requests-v2.ts';
import { V2_COMMANDS } from '../../lib/auth/command-texts.ts';
import { authenticateV2, v2Credentials, type V2AuthDeps } from '../../lib/auth/v2-authenticate.ts';
import { notFound } from '../../lib/http/errors.ts';
import { validQuery } from '../../lib/http/validate.ts';
import { jobNames } from '../../lib/job/names.ts';

export interface LogsV2Deps {
  auth: V2AuthDeps;
  jobs: JobStore;
  objects: ObjectStore;
  pods: PodLogSource;
}

const TEXT = { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' };

/**
 * GET /v2/api/services/computeStreamableLogs?jobId=&consumerAddress=&nonce=&signature= (ocean-node's
 * getStreamableLogs) → the algorithm's output as it runs: followed from its pod until it exits, then, once the pod
 * is gone, the copy publish stored. Signed over consumerAddress + nonce + "getComputeStreamableLogs", or with an
 * auth token; for the owner and the viewers it named. 404 while the algorithm has not started.
 */
export function registerV2(app: Hono, deps: LogsV2Deps): void {
  app.get(`${V2_BASE}/api/services/computeStreamableLogs`, validQuery(v2LogsQuery), async (c) => {
    const q = c.req.valid('query');
    const caller = await authenticateV2(deps.auth, V2_COMMANDS.logs, v2Credentials(c.req.header('Authorization'), q));
    const job = await deps.jobs.getViewable(q.jobId, caller.address);
    await caller.commitNonce();
    const live = await streamPodLog(deps.pods, jobNames(job.workflow.jobId).pods.algorithm, true, c.req.raw.signal);
    if (live) return new Response(live, { headers: TEXT });
    const stored = job.status.results.find((r) => r.type === 'algorithmLog');
    if (!stored) throw notFound('algorithm log (the algorithm has not run yet)');
    return streamObject(deps.objects, stored.key, {
      range: undefined,
      filename: stored.filename,
      contentType: TEXT['Content-Type'],
    });
  });
}
