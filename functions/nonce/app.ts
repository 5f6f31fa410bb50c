import type { Hono } from 'hono';
import { V2_BASE } from '../../lib/api/endpoints.ts';
import { nonceQuery } from '../../lib/api/requests.ts';
import type { BaseDeps, Runtime } from '../../lib/api/runtime.ts';
import type { NonceStore } from '../../lib/auth/nonce-store.ts';
import { createFunctionApp } from '../../lib/http/app.ts';
import { validQuery } from '../../lib/http/validate.ts';

export interface NonceDeps extends BaseDeps {
  nonces: NonceStore;
  /** The v2 API's counter (lib/auth/v2-nonce-policy.ts). */
  noncesV2: NonceStore;
}

/**
 * GET /api/services/nonce?userAddress= → `{ nonce }`, the last accepted nonce (ocean.js signs it + 1).
 * GET /v2/api/services/nonce?userAddress= → the same for the v2 API, whose nonces are counted apart.
 */
export function createApp(deps: NonceDeps): Hono {
  const app = createFunctionApp({ name: 'nonce', ...deps });
  app.get('/api/services/nonce', validQuery(nonceQuery), async (c) => {
    const { userAddress } = c.req.valid('query');
    return c.json({ nonce: Number(await deps.nonces.current(userAddress)) });
  });
  app.get(`${V2_BASE}/api/services/nonce`, validQuery(nonceQuery), async (c) => {
    const { userAddress } = c.req.valid('query');
    return c.json({ nonce: Number(await deps.noncesV2.current(userAddress)) });
  });
  return app;
}

/** The app wired to the clients its environment configures. */
export function appFromRuntime(runtime: Runtime): Hono {
  return createApp({ ...runtime.base('nonce'), nonces: runtime.nonces, noncesV2: runtime.noncesV2 });
}
