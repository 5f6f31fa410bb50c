import { join } from 'node:path';
import { startProcess, waitFor, type ManagedProcess } from '../processes.ts';
import type { NodeNamespace } from './node-namespace.ts';

/** Where the node's parts find the API server: inside the node's namespace, on its loopback. */
export const NODE_API_SERVER = 'https://127.0.0.1:6443';

/** The port the relay serves the API server on, at every address of the node's namespace. */
export const NODE_API_PORT = 6443;

/**
 * The API server listens on the host's 127.0.0.1, which the node's namespace cannot reach. Two socat relays join them
 * through a unix socket in the state directory (a path both sides see): nothing listens on a host address but
 * 127.0.0.1. Inside the node's namespace the relay listens on every address: the node's parts use 127.0.0.1, pods
 * the node's address, where the default/kubernetes EndpointSlice sends the kubernetes Service's traffic.
 */
export async function startApiRelay(
  ns: NodeNamespace,
  opts: { apiPort: number; stateDir: string; logDir: string },
): Promise<ManagedProcess[]> {
  const socket = join(opts.stateDir, 'apiserver.sock');
  const host = startProcess(
    'api-relay-host',
    'socat',
    [`UNIX-LISTEN:${socket},fork,mode=600,unlink-early`, `TCP:127.0.0.1:${opts.apiPort}`],
    {
      logFile: join(opts.logDir, 'api-relay.log'),
    },
  );
  const [cmd, ...args] = ns.enter(['socat', `TCP-LISTEN:${NODE_API_PORT},fork,reuseaddr`, `UNIX-CONNECT:${socket}`]);
  const node = startProcess('api-relay-node', cmd!, args, { logFile: join(opts.logDir, 'api-relay.log') });
  await waitFor(
    'the API relay into the node namespace',
    async () => {
      await ns.exec(['bash', '-c', `exec 3<>/dev/tcp/${ns.nodeAddress}/${NODE_API_PORT}`], 2_000);
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
