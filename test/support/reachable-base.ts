import { join } from 'node:path';
import type { PlatformEnv } from '../../devcluster/platform-env.ts';
import { NetworkingV1Api } from '@kubernetes/client-node';
import { startHostRelay } from '../../devcluster/real-node/api-relay.ts';
import { joinNodeNamespace } from '../../devcluster/real-node/node-namespace.ts';
import { servePublicly } from '../../devcluster/real-node/public-address.ts';
import { loadKubeConfig } from '../../lib/kube/client.ts';

export interface ReachableBase {
  /** The base URL (`http://host[:port]`, no trailing slash) that the functions and the job pods both reach. */
  base: string;
  stop(): Promise<void>;
}

/**
 * Where a test's file server on 127.0.0.1:`port` is reachable from the functions and from the configure pods alike:
 * a public address of the node's namespace (real-node/public-address.ts), where the pods' NetworkPolicy lets them
 * fetch; without a platform (a benchmark's own engine), 127.0.0.1 itself.
 */
export async function reachableBase(env: PlatformEnv | undefined, port: number): Promise<ReachableBase> {
  if (!env) return { base: `http://127.0.0.1:${port}`, stop: async () => undefined };
  const served = await servePublicly(env.nodeLink, {
    hostPort: port,
    stateDir: env.stateDir,
    logDir: join(env.stateDir, 'logs'),
  });
  return { base: served.url, stop: served.stop };
}

export interface InternalBase extends ReachableBase {
  host: string;
  port: number;
}

/**
 * Where a host service on 127.0.0.1:`port` sits as a service inside the publisher's own network would: the node's
 * address (a relay in its namespace, the same port), which pods reach only where a NetworkPolicy lets them
 * (allowPublishEgress) and the engine only where PRIVATE_FILE_HOSTS_ALLOWED lists it.
 */
export async function internalBase(env: PlatformEnv, port: number, name: string): Promise<InternalBase> {
  const host = env.nodeLink.nodeAddress;
  const relay = await startHostRelay(joinNodeNamespace(env.nodeLink), {
    name: `internal-${name}`,
    hostPort: port,
    listen: `${port},bind=${host}`,
    probe: `${host}/${port}`,
    stateDir: env.stateDir,
    logDir: join(env.stateDir, 'logs'),
  });
  return {
    base: `http://${host}:${port}`,
    host,
    port,
    stop: async () => {
      await Promise.all(relay.map((p) => p.stop()));
    },
  };
}

/**
 * A NetworkPolicy, as a publisher adds for an output target inside its network, letting publish pods reach these
 * internal addresses (manifests/network-policies.yaml lets them reach public ones on 443 only). Returns its removal.
 */
export async function allowPublishEgress(
  env: PlatformEnv,
  name: string,
  targets: Array<{ host: string; port: number }>,
): Promise<() => Promise<void>> {
  const net = loadKubeConfig(env.kubeconfig).makeApiClient(NetworkingV1Api);
  const namespace = env.namespaces.jobs;
  await net.createNamespacedNetworkPolicy({
    namespace,
    body: {
      metadata: { name },
      spec: {
        podSelector: { matchLabels: { 'c2d.oceanprotocol.com/role': 'publish' } },
        policyTypes: ['Egress'],
        egress: targets.map((t) => ({
          to: [{ ipBlock: { cidr: `${t.host}/32` } }],
          ports: [{ protocol: 'TCP', port: t.port }],
        })),
      },
    },
  });
  return async () => {
    await net.deleteNamespacedNetworkPolicy({ name, namespace }).catch(() => undefined);
  };
}
