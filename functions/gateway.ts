/**
 * Every function in one process behind one listener, on the host: used only by tests, through
 * devcluster/local-stack.ts's startLocalStack (test/integration/, the engine and reliability benchmarks, and
 * test/real-node/'s real-node and two-nodes tests). `npm start`, the demo and test/real-node/knative.test.ts run each
 * function as its own Knative Service behind the provider's one URL (knative/deploy.sh, devcluster/knative/provider.ts),
 * the way a publisher deploys them.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { mountedEndpoints, type FunctionName } from '../lib/api/endpoints.ts';
import { Runtime } from '../lib/api/runtime.ts';
import { Env } from '../lib/env.ts';
import { appFromRuntime as authApp } from './auth/app.ts';
import { appFromRuntime as deleteApp } from './delete/app.ts';
import { appFromRuntime as encryptApp } from './encrypt/app.ts';
import { appFromRuntime as environmentsApp } from './environments/app.ts';
import { appFromRuntime as infoApp } from './info/app.ts';
import { appFromRuntime as initializeApp } from './initialize/app.ts';
import { appFromRuntime as logsApp } from './logs/app.ts';
import { appFromRuntime as nonceApp } from './nonce/app.ts';
import { appFromRuntime as resultApp } from './result/app.ts';
import { appFromRuntime as startApp } from './start/app.ts';
import { appFromRuntime as statusApp } from './status/app.ts';
import { appFromRuntime as stopApp } from './stop/app.ts';

export const FUNCTION_APPS: Record<FunctionName, (runtime: Runtime) => Hono> = {
  info: infoApp,
  nonce: nonceApp,
  start: startApp,
  status: statusApp,
  stop: stopApp,
  delete: deleteApp,
  result: resultApp,
  logs: logsApp,
  environments: environmentsApp,
  initialize: initializeApp,
  encrypt: encryptApp,
  auth: authApp,
};

/** The functions that sign, and so the only ones given the provider's key (knative/<name>.yaml mount it). */
export const PROVIDER_KEY_HOLDERS: ReadonlySet<FunctionName> = new Set<FunctionName>(['start', 'initialize']);

/**
 * The environment one function gets inside the gateway, as its Knative Service would give it: its own
 * ServiceAccount's kubeconfig (`<dir>/c2d-fn-<name>.kubeconfig`) when FUNCTION_KUBECONFIG_DIR is set, and the
 * provider's key only if it signs.
 */
export function functionEnv(fn: FunctionName, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { FUNCTION_KUBECONFIG_DIR: dir, PROVIDER_KEY: key, PROVIDER_KEY_FILE: keyFile, ...rest } = env;
  return {
    ...rest,
    ...(dir && { KUBECONFIG: join(dir, `c2d-fn-${fn}.kubeconfig`) }),
    ...(PROVIDER_KEY_HOLDERS.has(fn) && { PROVIDER_KEY: key, PROVIDER_KEY_FILE: keyFile }),
  };
}

/**
 * Every function's app behind one listener, for local runs: each request goes, untouched, to the app of the
 * function that owns its method and path, exactly as separate Knative services behind one host would see it.
 * `runtimeFor` gives each function its own clients (and so its own Kubernetes identity).
 */
export function createGateway(runtimeFor: (fn: FunctionName) => Runtime): Hono {
  const apps = new Map<FunctionName, Hono>();
  const gateway = new Hono();
  for (const endpoint of mountedEndpoints()) {
    let app = apps.get(endpoint.fn);
    if (!app) {
      app = FUNCTION_APPS[endpoint.fn](runtimeFor(endpoint.fn));
      apps.set(endpoint.fn, app);
    }
    const target = app;
    gateway.on(endpoint.method, endpoint.path, (c) => target.fetch(c.req.raw, c.env));
  }
  gateway.notFound((c) => c.json({ error: `no route ${c.req.method} ${c.req.path}` }, 404));
  return gateway;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const port = new Env().int('PORT', 8030, { max: 65535 });
  const gateway = createGateway((fn) => new Runtime(functionEnv(fn, process.env)));
  serve({ fetch: gateway.fetch, hostname: '127.0.0.1', port }, (info) => {
    process.stdout.write(
      JSON.stringify({
        time: new Date().toISOString(),
        level: 'info',
        component: 'gateway',
        msg: 'listening',
        ...info,
      }) + '\n',
    );
  });
}
