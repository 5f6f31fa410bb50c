import type { Hono } from 'hono';
import type { InitializeResult } from '../../lib/access/initialize.ts';
import { quoteInitialize } from '../../lib/access/quote-initialize.ts';
import { escrowFromRuntime } from '../../lib/api/escrow-payments.ts';
import { requireEnvironment, type EnvironmentSource } from '../../lib/api/environments.ts';
import { initializeComputeRequest, type InitializeComputeRequest } from '../../lib/api/requests.ts';
import { accessSettings } from '../../lib/api/access-settings.ts';
import type { BaseDeps, Runtime } from '../../lib/api/runtime.ts';
import { createFunctionApp } from '../../lib/http/app.ts';
import { validJson } from '../../lib/http/validate.ts';
import type { Environment } from '../../lib/job/environments.ts';
import { registerV2 } from './v2.ts';

export interface InitializeDeps extends BaseDeps {
  environments: EnvironmentSource;
  quote(request: InitializeComputeRequest, environment: Environment): Promise<InitializeResult>;
}

/**
 * POST /api/services/initializeCompute {datasets, algorithm, compute: {env, validUntil}, consumerAddress} → per asset
 * the datatoken and a provider fee signed by this provider (or `validOrder`), what ocean.js orders with next.
 * Unsigned, as in Ocean: it changes nothing and only quotes.
 */
export function createApp(deps: InitializeDeps): Hono {
  const app = createFunctionApp({ name: 'initialize', ...deps });
  app.post('/api/services/initializeCompute', validJson(initializeComputeRequest), async (c) => {
    const body = c.req.valid('json');
    const environment = await requireEnvironment(deps.environments, body.compute.env, 'compute.env');
    return c.json(await deps.quote(body, environment));
  });
  return app;
}

/** The app wired to the clients its environment configures. */
export function appFromRuntime(runtime: Runtime): Hono {
  const access = accessSettings(runtime);
  const app = createApp({
    ...runtime.base('initialize'),
    environments: runtime.environments,
    quote: (request, environment) =>
      quoteInitialize(access, {
        consumer: request.consumerAddress,
        datasets: request.datasets,
        algorithm: request.algorithm,
        environment,
        validUntil: request.compute.validUntil,
      }),
  });
  registerV2(app, {
    chainId: runtime.config.chainId,
    environments: runtime.environments,
    quote: (input) => quoteInitialize(access, input),
    // ESCROW_ADDRESS set: paid jobs; unset, paid starts and priced quotes answer 400 (ESCROW_NOT_CONFIGURED).
    escrow: escrowFromRuntime(runtime),
    outputTargets: runtime.config.outputPublicKey !== undefined,
  });
  return app;
}
