import { join } from 'node:path';
import { startProcess, waitFor, type ManagedProcess } from '../processes.ts';
import type { NodeNamespace } from './node-namespace.ts';

/** Where the node's parts find the API server: inside the node's namespace, on its loopback. */
export const NODE_API_SERVER = 'https://127.0.0.1:6443';

/** The port the relay serves the API server on, at every address of the node's namespace. */
export const NODE_API_PORT = 6443;

/** The port the relay serves the object store on, at the node's address. */
export const NODE_STORE_PORT = 9000;

/**
 * Makes a service on the host's 127.0.0.1 (which the node's namespace cannot reach) reachable inside the node's
 * namespace: two socat relays joined by a unix socket in the state directory (a path both sides see), so nothing
 * listens on a host address but 127.0.0.1. `listen` is socat's TCP-LISTEN address inside the namespace.
 */
export async function startHostRelay(
  ns: Pick<NodeNamespace, 'enter' | 'exec'>,
  opts: { name: string; hostPort: number; listen: string; probe: string; stateDir: string; logDir: string },
): Promise<ManagedProcess[]> {
  const socket = join(opts.stateDir, `${opts.name}.sock`);
  const logFile = join(opts.logDir, `${opts.name}-relay.log`);
  const host = startProcess(
    `${opts.name}-relay-host`,
    'socat',
    [`UNIX-LISTEN:${socket},fork,mode=600,unlink-early`, `TCP:127.0.0.1:${opts.hostPort}`],
    { logFile },
  );
  const [cmd, ...args] = ns.enter(['socat', `TCP-LISTEN:${opts.listen},fork,reuseaddr`, `UNIX-CONNECT:${socket}`]);
  const node = startProcess(`${opts.name}-relay-node`, cmd!, args, { logFile });
  await waitFor(
    `the ${opts.name} relay into the node namespace`,
    async () => {
      await ns.exec(['bash', '-c', `exec 3<>/dev/tcp/${opts.probe}`], 2_000);
      return true;
    },
    10_000,
    50,
  ).catch(async (err: unknown) => {
    await Promise.all([node.stop(), host.stop()]);
    throw err;
  });
  return [host, node];
}

/**
 * The API server inside the node's namespace, on every address: the node's parts use 127.0.0.1, pods the node's
 * address, where the default/kubernetes EndpointSlice sends the kubernetes Service's traffic.
 */
export function startApiRelay(
  ns: NodeNamespace,
  opts: { apiPort: number; stateDir: string; logDir: string },
): Promise<ManagedProcess[]> {
  return startHostRelay(ns, {
    name: 'apiserver',
    hostPort: opts.apiPort,
    listen: String(NODE_API_PORT),
    probe: `${ns.nodeAddress}/${NODE_API_PORT}`,
    stateDir: opts.stateDir,
    logDir: opts.logDir,
  });
}

/** The host's object store (MinIO) on the node's address, where the results-store relay pod forwards to. */
export function startStoreRelay(
  ns: NodeNamespace,
  opts: { storePort: number; stateDir: string; logDir: string },
): Promise<ManagedProcess[]> {
  return startHostRelay(ns, {
    name: 'object-store',
    hostPort: opts.storePort,
    listen: `${NODE_STORE_PORT},bind=${ns.nodeAddress}`,
    probe: `${ns.nodeAddress}/${NODE_STORE_PORT}`,
    stateDir: opts.stateDir,
    logDir: opts.logDir,
  });
}
