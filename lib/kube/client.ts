import type { AgentOptions } from 'node:https';
import { KubeConfig, type Cluster, type RequestContext } from '@kubernetes/client-node';
import { Env } from '../env.ts';

/**
 * client-node 2.x builds a new undici dispatcher for every API request (its private `createDispatcher`; only the
 * WebSocket agents are cached), so every call pays a TCP connect and a TLS handshake and no connection is reused.
 * This KubeConfig keeps the library's dispatcher for each set of dispatcher options (TLS identity and proxy) and
 * hands it out again; undici then pools keep-alive connections per origin. Bearer tokens travel as headers, so they
 * do not split the pool.
 */
class PooledKubeConfig extends KubeConfig {
  readonly #dispatchers = new Map<string, unknown>();
  /** Set: every generated API call aborts after this long (Watch and Log build their own requests, unaffected). */
  requestTimeoutMs: number | undefined;

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    if (this.requestTimeoutMs !== undefined && !context.getSignal())
      context.setSignal(AbortSignal.timeout(this.requestTimeoutMs));
  }

  pooledDispatcher(cluster: Cluster | null, options: AgentOptions, create: () => unknown): unknown {
    const key = JSON.stringify(this.createDispatcherOptions(cluster, options));
    if (this.#dispatchers.has(key)) return this.#dispatchers.get(key);
    const dispatcher = create();
    this.#dispatchers.set(key, dispatcher);
    return dispatcher;
  }
}

type DispatcherFactory = (cluster: Cluster | null, options: AgentOptions) => unknown;
const proto = PooledKubeConfig.prototype as unknown as {
  createDispatcher: DispatcherFactory;
  pooledDispatcher: PooledKubeConfig['pooledDispatcher'];
};
const libraryCreateDispatcher = (KubeConfig.prototype as unknown as { createDispatcher?: DispatcherFactory })
  .createDispatcher;
if (typeof libraryCreateDispatcher !== 'function') {
  throw new Error(
    '@kubernetes/client-node no longer has KubeConfig.createDispatcher: lib/kube/client.ts must pool connections another way',
  );
}
proto.createDispatcher = function (this: PooledKubeConfig, cluster, options) {
  return this.pooledDispatcher(cluster, options, () => libraryCreateDispatcher.call(this, cluster, options));
};

/**
 * The Kubernetes identity this process acts as: the file named by KUBECONFIG when set (local runs, tests),
 * otherwise the pod's own ServiceAccount (in a cluster).
 */
export function loadKubeConfig(
  kubeconfigPath = new Env().optional('KUBECONFIG'),
  options: { requestTimeoutMs?: number } = {},
): KubeConfig {
  const kc = new PooledKubeConfig();
  kc.requestTimeoutMs = options.requestTimeoutMs;
  if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
  else kc.loadFromCluster();
  return kc;
}
