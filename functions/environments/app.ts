import type { CoreV1Api } from '@kubernetes/client-node';
import type { Hono } from 'hono';
import {
  activeJobsByEnvironment,
  loadEnvironments,
  toOceanEnvironment,
  type EnvironmentSource,
} from '../../lib/api/environments.ts';
import { environmentsQuery } from '../../lib/api/requests.ts';
import { V2_BASE } from '../../lib/api/endpoints.ts';
import { jobLoads, toV2Environment } from '../../lib/api/environments-v2.ts';
import { v2EnvironmentsQuery } from '../../lib/api/requests-v2.ts';
import { jobSelector } from '../../lib/job/names.ts';
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

/**
 * GET /api/services/computeEnvironments?chainId= → `{ [chainId]: ComputeEnvironment[] }` with current load.
 * GET /v2/api/services/computeEnvironments?chainId= → ocean-node's array of v2 environments (environments-v2.ts),
 * empty for a chain this provider does not serve.
 */
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
  app.get(`${V2_BASE}/api/services/computeEnvironments`, validQuery(v2EnvironmentsQuery), async (c) => {
    const q = c.req.valid('query');
    if (q.chainId !== undefined && q.chainId !== deps.chainId) return c.json([]);
    const [envs, jobs] = await Promise.all([
      loadEnvironments(deps.environments),
      deps.core.listNamespacedConfigMap({ namespace: deps.jobsNamespace, labelSelector: jobSelector('workflow') }),
    ]);
    const loads = jobLoads(jobs.items);
    return c.json(envs.map((env) => toV2Environment(env, deps.chainId, loads)));
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
