import type { Hono } from 'hono';
import { bareTxHash } from '../../lib/api/fields.ts';
import { V2_BASE } from '../../lib/api/endpoints.ts';
import { toV2Job } from '../../lib/api/job-shape-v2.ts';
import type { JobStore } from '../../lib/api/jobs.ts';
import { v2StatusQuery } from '../../lib/api/requests-v2.ts';
import { tokenFromAuthorization } from '../../lib/auth/auth-token.ts';
import type { TokenStore } from '../../lib/auth/token-store.ts';
import { HttpError, unauthorized } from '../../lib/http/errors.ts';
import { validQuery } from '../../lib/http/validate.ts';

export interface StatusV2Deps {
  jobs: JobStore;
  tokens: TokenStore;
  /** Refuse requests without an auth token (STATUS_REQUIRES_SIGNATURE; ocean.js 8.x never signs status). */
  requireSignature?: boolean;
  now?: () => Date;
}

/**
 * GET /v2/api/services/compute?consumerAddress=&jobId=&agreementId= → the jobs in ocean-node's shape and codes
 * (job-shape-v2.ts). ocean.js 8.x sends an auth token in `Authorization` when it has one and nothing otherwise; a
 * token must be consumerAddress's own, and is required with STATUS_REQUIRES_SIGNATURE. A job is answered to its
 * owner and to the viewers its owner named; without jobId, the address's own jobs are listed.
 */
export function registerV2(app: Hono, deps: StatusV2Deps): void {
  app.get(`${V2_BASE}/api/services/compute`, validQuery(v2StatusQuery), async (c) => {
    const q = c.req.valid('query');
    const header = c.req.header('Authorization');
    if (header !== undefined) {
      const token = tokenFromAuthorization(header);
      const owner = token && (await deps.tokens.owner(token, (deps.now ?? (() => new Date()))()));
      if (!owner) throw unauthorized('the auth token is unknown, expired or invalidated');
      if (owner !== q.consumerAddress.toLowerCase()) {
        throw unauthorized('the auth token belongs to another address than consumerAddress');
      }
    } else if (deps.requireSignature) {
      throw new HttpError(401, 'this provider answers status only with an auth token', 'Authorization', 'is required');
    }
    const jobs = q.jobId
      ? [await deps.jobs.getViewable(q.jobId, q.consumerAddress)]
      : await deps.jobs.listOwned(q.consumerAddress);
    const agreementId = q.agreementId ? bareTxHash(q.agreementId) : undefined;
    const selected = jobs.filter(
      (job) => agreementId === undefined || bareTxHash(job.workflow.agreementId) === agreementId,
    );
    return c.json(selected.map(toV2Job));
  });
}
