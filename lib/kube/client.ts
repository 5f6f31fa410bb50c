import { Agent, type AgentOptions } from 'node:https';
import { KubeConfig, type Cluster } from '@kubernetes/client-node';
import { Env } from '../env.ts';

/**
 * client-node 1.x builds a new HTTPS agent for every request, so every API call pays a TLS handshake and no
 * connection is reused. This KubeConfig keeps one keep-alive agent per TLS identity instead (bearer tokens travel
 * as headers, so they do not split the pool). Proxied clusters keep the library's own agents.
 */
class PooledKubeConfig extends KubeConfig {
  readonly #agents = new Map<string, Agent>();

  pooledAgent(cluster: Cluster | null, options: AgentOptions, fallback: () => unknown): unknown {
    if (!cluster || cluster.proxyUrl || !cluster.server.startsWith('https:')) return fallback();
    const key = JSON.stringify([cluster.server, options.servername, options.rejectUnauthorized, String(options.ca), String(options.cert), String(options.key)]);
    let agent = this.#agents.get(key);
    if (!agent) {
      agent = new Agent({ ...options, keepAlive: true, maxSockets: 128 });
      this.#agents.set(key, agent);
    }
    return agent;
  }
}

type AgentFactory = (cluster: Cluster | null, options: AgentOptions) => unknown;
const proto = PooledKubeConfig.prototype as unknown as { createAgent: AgentFactory; pooledAgent: PooledKubeConfig['pooledAgent'] };
const libraryCreateAgent = (KubeConfig.prototype as unknown as { createAgent: AgentFactory }).createAgent;
proto.createAgent = function (this: PooledKubeConfig, cluster, options) {
  return this.pooledAgent(cluster, options, () => libraryCreateAgent.call(this, cluster, options));
};

/**
 * The Kubernetes identity this process acts as: the file named by KUBECONFIG when set (local runs, tests),
 * otherwise the pod's own ServiceAccount (in a cluster).
 */
export function loadKubeConfig(kubeconfigPath = new Env().optional('KUBECONFIG')): KubeConfig {
  const kc = new PooledKubeConfig();
  if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
  else kc.loadFromCluster();
  return kc;
}
