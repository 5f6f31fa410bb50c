import type { Hono } from 'hono';
import { serviceEndpoints } from '../../lib/api/endpoints.ts';
import type { BaseDeps, Runtime } from '../../lib/api/runtime.ts';
import { createFunctionApp } from '../../lib/http/app.ts';

export interface InfoDeps extends BaseDeps {
  chainId: number;
  providerAddress: string;
}

export const SOFTWARE = 'c2d-knative';
export const VERSION = '0.1.0';

/** GET / → what ocean.js reads to find every endpoint (`serviceEndpoints`) and to tell a provider is valid. */
export function createApp(deps: InfoDeps): Hono {
  const app = createFunctionApp({ name: 'info', ...deps });
  const body = {
    software: SOFTWARE,
    version: VERSION,
    chainId: deps.chainId,
    chainIds: [deps.chainId],
    providerAddress: deps.providerAddress,
    providerAddresses: { [deps.chainId]: deps.providerAddress },
    serviceEndpoints: serviceEndpoints(),
  };
  app.get('/', (c) => c.json(body));
  return app;
}

/** The app wired to the clients its environment configures. */
export function appFromRuntime(runtime: Runtime): Hono {
  return createApp({
    ...runtime.base('info'),
    chainId: runtime.config.chainId,
    providerAddress: runtime.config.providerAddress(),
  });
}
