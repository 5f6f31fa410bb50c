import type { Hono } from 'hono';
import { serviceEndpoints } from '../../lib/api/endpoints.ts';
import type { BaseDeps, Runtime } from '../../lib/api/runtime.ts';
import { createFunctionApp } from '../../lib/http/app.ts';

export interface InfoDeps extends BaseDeps {
  chainId: number;
  /** The provider's address, or how to find it on the first request (from the key, when only that is configured). */
  providerAddress: string | (() => Promise<string>);
}

const SOFTWARE = 'c2d-knative';
const VERSION = '0.1.0';

/** GET / → what ocean.js reads to find every endpoint (`serviceEndpoints`) and to tell a provider is valid. */
export function createApp(deps: InfoDeps): Hono {
  const app = createFunctionApp({ name: 'info', ...deps });
  const describe = (providerAddress: string) => ({
    software: SOFTWARE,
    version: VERSION,
    chainId: deps.chainId,
    chainIds: [deps.chainId],
    providerAddress,
    providerAddresses: { [deps.chainId]: providerAddress },
    serviceEndpoints: serviceEndpoints(),
  });
  const address = deps.providerAddress;
  let body: Promise<ReturnType<typeof describe>> | undefined;
  app.get('/', async (c) => {
    if (!body) {
      body = (typeof address === 'string' ? Promise.resolve(address) : address()).then(describe);
      body.catch(() => (body = undefined));
    }
    return c.json(await body);
  });
  return app;
}

/** The app wired to the clients its environment configures. */
export function appFromRuntime(runtime: Runtime): Hono {
  const { config } = runtime;
  // Deployed with PROVIDER_ADDRESS (info does not hold the key). Given only the key, derive the address on the first
  // request, so that the usual case does not load the key-handling code; the key is read now, to fail at start-up.
  const key = config.providerAddress === undefined ? config.providerKey() : undefined;
  return createApp({
    ...runtime.base('info'),
    chainId: config.chainId,
    providerAddress:
      config.providerAddress ?? (async () => (await import('ethers/transaction')).computeAddress(key as string)),
  });
}
