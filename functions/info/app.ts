import type { Hono } from 'hono';
import { serviceEndpoints, V2_BASE, V2_ENDPOINTS } from '../../lib/api/endpoints.ts';
import type { BaseDeps, Runtime } from '../../lib/api/runtime.ts';
import { createFunctionApp } from '../../lib/http/app.ts';

export interface InfoDeps extends BaseDeps {
  chainId: number;
  /** The provider's address, or how to find it on the first request (from the key, when only that is configured). */
  providerAddress: string | (() => Promise<string>);
  /**
   * What ocean.js 8.x encrypts a job's `output` to (`nodePublicKey`): the output key's public half (compressed), or,
   * when the provider has none, the provider's public key (0x04…).
   */
  nodePublicKey: string | (() => Promise<string>);
}

const SOFTWARE = 'c2d-knative';
const VERSION = '0.1.0';

function once<T>(value: T | (() => Promise<T>)): () => Promise<T> {
  let cached: Promise<T> | undefined;
  return () => {
    if (!cached) {
      cached = typeof value === 'function' ? (value as () => Promise<T>)() : Promise.resolve(value);
      cached.catch(() => (cached = undefined));
    }
    return cached;
  };
}

/**
 * GET / → what ocean.js 3.x reads to find every endpoint (`serviceEndpoints`) and to tell a provider is valid.
 * GET /v2 → ocean-node's root document for ocean.js 8.x: the v2 endpoints by ocean-node's names, relative to /v2.
 */
export function createApp(deps: InfoDeps): Hono {
  const app = createFunctionApp({ name: 'info', ...deps });
  const address = once(deps.providerAddress);
  const publicKey = once(deps.nodePublicKey);
  app.get('/', async (c) => {
    const providerAddress = await address();
    return c.json({
      software: SOFTWARE,
      version: VERSION,
      chainId: deps.chainId,
      chainIds: [deps.chainId],
      providerAddress,
      providerAddresses: { [deps.chainId]: providerAddress },
      serviceEndpoints: serviceEndpoints(),
    });
  });
  app.get(V2_BASE, async (c) => {
    const [providerAddress, nodePublicKey] = await Promise.all([address(), publicKey()]);
    return c.json({
      software: SOFTWARE,
      version: VERSION,
      chainIds: [deps.chainId],
      providerAddress,
      nodePublicKey,
      serviceEndpoints: serviceEndpoints(V2_ENDPOINTS),
    });
  });
  return app;
}

/** The app wired to the clients its environment configures. */
export function appFromRuntime(runtime: Runtime): Hono {
  const { config } = runtime;
  // Deployed with PROVIDER_ADDRESS and PROVIDER_PUBLIC_KEY (info does not hold the key). Given only the key, derive
  // them on the first request, so that the usual case does not load the key-handling code; the key is read now, to
  // fail at start-up.
  const needsKey =
    config.providerAddress === undefined ||
    (config.outputPublicKey === undefined && config.providerPublicKey === undefined);
  const key = needsKey ? config.providerKey() : undefined;
  const output = config.outputPublicKey;
  return createApp({
    ...runtime.base('info'),
    chainId: config.chainId,
    providerAddress:
      config.providerAddress ?? (async () => (await import('ethers/transaction')).computeAddress(key as string)),
    nodePublicKey: output
      ? async () => (await import('../../lib/job/output-key.ts')).outputPublicKey(output)
      : (config.providerPublicKey ?? (async () => (await import('../../lib/access/ecies.ts')).providerPublicKey(key!))),
  });
}
