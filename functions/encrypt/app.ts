import type { Hono } from 'hono';
import { encryptQuery } from '../../lib/api/requests.ts';
import type { BaseDeps, Runtime } from '../../lib/api/runtime.ts';
import { eciesEncrypt, providerPublicKey } from '../../lib/access/ecies.ts';
import { badRequest } from '../../lib/http/errors.ts';
import { createFunctionApp } from '../../lib/http/app.ts';
import { validQuery } from '../../lib/http/validate.ts';

export interface EncryptDeps extends BaseDeps {
  chainId: number;
  providerPublicKey: string;
}

/** DDOs with many services are larger than the API's other bodies. */
const ENCRYPT_MAX_BODY_BYTES = 1024 * 1024;

/**
 * POST /api/services/encrypt?chainId= with the raw bytes to encrypt (ocean.js sends a JSON document as
 * application/octet-stream) → the ECIES ciphertext for this provider's key as 0x-hex text, as Ocean's provider does.
 */
export function createApp(deps: EncryptDeps): Hono {
  const app = createFunctionApp({ name: 'encrypt', maxBodyBytes: ENCRYPT_MAX_BODY_BYTES, ...deps });
  app.post('/api/services/encrypt', validQuery(encryptQuery), async (c) => {
    const q = c.req.valid('query');
    if (q.chainId !== undefined && q.chainId !== deps.chainId) {
      throw badRequest('chainId', `this provider serves chain ${deps.chainId} only`);
    }
    const body = new Uint8Array(await c.req.arrayBuffer());
    if (body.length === 0) throw badRequest('body', 'nothing to encrypt');
    return c.text(eciesEncrypt(deps.providerPublicKey, body));
  });
  return app;
}

/** The app wired to the clients its environment configures. */
export function appFromRuntime(runtime: Runtime): Hono {
  return createApp({
    ...runtime.base('encrypt'),
    chainId: runtime.config.chainId,
    providerPublicKey: runtime.config.providerPublicKey ?? providerPublicKey(runtime.config.providerKey()),
  });
}
