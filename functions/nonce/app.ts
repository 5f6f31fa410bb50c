import type { Hono } from 'hono';
import { nonceQuery } from '../../lib/api/requests.ts';
import type { BaseDeps, Runtime } from '../../lib/api/runtime.ts';
import type { NonceStore } from '../../lib/auth/nonce-store.ts';
import { createFunctionApp } from '../../lib/http/app.ts';
import { validQuery } from '../../lib/http/validate.ts';

export interface NonceDeps extends BaseDeps {
  nonces: NonceStore;
}

/** GET /api/services/nonce?userAddress= → `{ nonce }`, the last accepted nonce (ocean.js signs it + 1). */
export function createApp(deps: NonceDeps): Hono {
  const app = createFunctionApp({ name: 'nonce', ...deps });
  app.get('/api/services/nonce', validQuery(nonceQuery), async (c) => {
    const { userAddress } = c.req.valid('query');
    return c.json({ nonce: Number(await deps.nonces.current(userAddress)) });
  });
  return app;
}

/** The app wired to the clients its environment configures. */
export function appFromRuntime(runtime: Runtime): Hono {
  return createApp({ ...runtime.base('nonce'), nonces: runtime.nonces });
}
