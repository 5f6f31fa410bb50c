import type { Hono } from 'hono';
import type { JobStore } from '../../lib/api/jobs.ts';
import { streamObject, type ObjectStore } from '../../lib/api/objects.ts';
import { streamPodLog, type PodLogSource } from '../../lib/api/pod-logs.ts';
import { logsQuery } from '../../lib/api/requests.ts';
import type { BaseDeps, Runtime } from '../../lib/api/runtime.ts';
import { authenticate } from '../../lib/auth/authenticate.ts';
import type { NonceStore } from '../../lib/auth/nonce-store.ts';
import { logsText } from '../../lib/auth/signed-texts.ts';
import { notFound } from '../../lib/http/errors.ts';
import { createFunctionApp } from '../../lib/http/app.ts';
import { validQuery } from '../../lib/http/validate.ts';
import { registerV2 } from './v2.ts';
import { jobNames, type Stage } from '../../lib/job/names.ts';
import type { ResultType } from '../../lib/job/status.ts';

export interface LogsDeps extends BaseDeps {
  jobs: JobStore;
  nonces: NonceStore;
  objects: ObjectStore;
  pods: PodLogSource;
}

const STAGE_LOG: Record<Stage, ResultType> = {
  configure: 'configurationLog',
  algorithm: 'algorithmLog',
  publish: 'publishLog',
};

/**
 * GET /api/services/computeLogs?consumerAddress=&jobId=&stage=configure|algorithm|publish&follow=&nonce=&signature=
 * → the stage's log as text. While the stage's pod exists it comes from Kubernetes (live with follow=true); after
 * the pod is gone, from the copy the publish stage stored. Signed text: consumerAddress + jobId + stage + nonce.
 */
export function createApp(deps: LogsDeps): Hono {
  const app = createFunctionApp({ name: 'logs', ...deps });
  app.get('/api/services/computeLogs', validQuery(logsQuery), async (c) => {
    const q = c.req.valid('query');
    const caller = await authenticate(deps.nonces, {
      address: q.consumerAddress,
      nonce: q.nonce,
      signature: q.signature,
      message: logsText({ address: q.consumerAddress, jobId: q.jobId, stage: q.stage, nonce: q.nonce }),
    });
    const job = await deps.jobs.getOwned(q.jobId, caller.address);
    await caller.commitNonce();
    const live = await streamPodLog(deps.pods, jobNames(job.workflow.jobId).pods[q.stage], q.follow, c.req.raw.signal);
    if (live) {
      return new Response(live, {
        headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' },
      });
    }
    const stored = job.status.results.find((r) => r.type === STAGE_LOG[q.stage]);
    if (!stored) throw notFound(`log of the ${q.stage} stage`);
    return streamObject(deps.objects, stored.key, {
      range: undefined,
      filename: stored.filename,
      contentType: 'text/plain; charset=utf-8',
    });
  });
  return app;
}

/** The app wired to the clients its environment configures. */
export function appFromRuntime(runtime: Runtime): Hono {
  const base = runtime.base('logs');
  const shared = {
    jobs: runtime.jobs(base.logger),
    objects: runtime.objects,
    pods: { kube: () => runtime.kube(), namespace: runtime.config.jobsNamespace },
  };
  const app = createApp({ ...base, ...shared, nonces: runtime.nonces });
  registerV2(app, { ...shared, auth: runtime.v2Auth });
  return app;
}
