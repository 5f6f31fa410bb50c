import type { CoreV1Api } from '@kubernetes/client-node';
import type { Hono } from 'hono';
import {
  activeJobsByEnvironment,
  loadEnvironments,
  toOceanEnvironment,
  type EnvironmentSource,
} from '../../lib/api/environments.ts';
import { environmentsQuery } from '../../lib/api/requests.ts';
import type { BaseDeps, Runtime } from '../../lib/api/runtime.ts';
import { badRequest } from '../../lib/http/errors.ts';
import { createFunctionApp } from '../../lib/http/app.ts';
import { validQuery } from '../../lib/http/validate.ts';

export interface EnvironmentsDeps extends BaseDeps {
  chainId: number;
  environments: EnvironmentSource;
  core: CoreV1Api;
  jobsNamespace: string;
}

/** GET /api/services/computeEnvironments?chainId= → `{ [chainId]: ComputeEnvironment[] }` with current load. */
export function createApp(deps: EnvironmentsDeps): Hono {
  const app = createFunctionApp({ name: 'environments', ...deps });
  app.get('/api/services/computeEnvironments', validQuery(environmentsQuery), async (c) => {
    const q = c.req.valid('query');
    if (q.chainId !== undefined && q.chainId !== deps.chainId) {
      throw badRequest('chainId', `this provider serves chain ${deps.chainId} only`);
    }
    const [envs, active] = await Promise.all([
      loadEnvironments(deps.environments),
      activeJobsByEnvironment(deps.core, deps.jobsNamespace),
    ]);
    const now = new Date();
    return c.json({
      [deps.chainId]: envs.map((env) => toOceanEnvironment(env, deps.chainId, active.get(env.id) ?? 0, now)),
    });
  });
  return app;
}

/** The app wired to the clients its environment configures. */
export function appFromRuntime(runtime: Runtime): Hono {
  return createApp({
    ...runtime.base('environments'),
    chainId: runtime.config.chainId,
    environments: runtime.environments,
    core: runtime.core,
    jobsNamespace: runtime.config.jobsNamespace,
  });
}
