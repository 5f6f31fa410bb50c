import type { Hono } from 'hono';
import { requireEnvironment, type EnvironmentSource } from '../../lib/api/environments.ts';
import { initializeComputeRequest, type InitializeComputeRequest } from '../../lib/api/requests.ts';
import type { BaseDeps } from '../../lib/api/runtime.ts';
import { createFunctionApp, parseJsonBody } from '../../lib/http/app.ts';
import type { Environment } from '../../lib/job/environments.ts';

/** ocean.js's `ProviderComputeInitialize`: the datatoken to order and a signed provider fee, or a still-valid order. */
export interface ComputeInitialization {
  datatoken?: string;
  validOrder?: string;
  providerFee?: unknown;
}

export interface InitializeQuote {
  algorithm?: ComputeInitialization;
  datasets: ComputeInitialization[];
}

export interface InitializeDeps extends BaseDeps {
  environments: EnvironmentSource;
  quote(request: InitializeComputeRequest, environment: Environment): Promise<InitializeQuote>;
}

/**
 * POST /api/services/initializeCompute {datasets, algorithm, compute: {env, validUntil}, consumerAddress} → per asset
 * the datatoken and a provider fee signed by this provider (or `validOrder`), what ocean.js orders with next.
 */
export function createApp(deps: InitializeDeps): Hono {
  const app = createFunctionApp({ name: 'initialize', ...deps });
  app.post('/api/services/initializeCompute', async (c) => {
    const body = await parseJsonBody(c, initializeComputeRequest);
    const environment = await requireEnvironment(deps.environments, body.compute.env, 'compute.env');
    return c.json(await deps.quote(body, environment));
  });
  return app;
}
