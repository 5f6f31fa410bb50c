import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startProcess, waitFor, type ManagedProcess } from '../processes.ts';
import type { NodeNamespace } from './node-namespace.ts';

/**
 * The API server's way into the node's network: its egress selector sends every "cluster" connection (admission
 * webhooks, aggregated APIs, kubelet, service and pod proxies) as an HTTP CONNECT over a unix socket in the state
 * directory. Inside the node's namespace socat accepts on that socket and hands each connection to tinyproxy on the
 * namespace's loopback, which dials pod and Service addresses as any process of the node would. Nothing listens on a
 * host address.
 */
export function clusterEgressSocket(stateDir: string): string {
  return join(stateDir, 'cluster-egress.sock');
}

/** The kube-apiserver `--egress-selector-config-file` that routes cluster traffic through `socket`. */
export function egressSelectorConfig(socket: string): string {
  return [
    'apiVersion: apiserver.k8s.io/v1beta1',
    'kind: EgressSelectorConfiguration',
    'egressSelections:',
    '  - name: cluster',
    '    connection:',
    '      proxyProtocol: HTTPConnect',
    '      transport:',
    '        uds:',
    `          udsName: ${socket}`,
    '',
  ].join('\n');
}

const PROXY_PORT = 3129;

export async function startClusterEgress(
  ns: NodeNamespace,
  tinyproxy: string,
  o: { socket: string; stateDir: string; logDir: string },
): Promise<ManagedProcess[]> {
  const conf = join(o.stateDir, 'tinyproxy.conf');
  // No ConnectPort line: CONNECT to any port (webhooks and kubelet are not on 443). No Allow line is needed: only
  // the socket's owner can reach the loopback listener through it.
  writeFileSync(
    conf,
    [
      `Port ${PROXY_PORT}`,
      'Listen 127.0.0.1',
      'Timeout 3600',
      'MaxClients 200',
      'LogLevel Warning',
      'DisableViaHeader Yes',
      'User nobody',
      'Group nogroup',
      '',
    ].join('\n'),
  );
  const [pcmd, ...pargs] = ns.enter([tinyproxy, '-d', '-c', conf]);
  const proxy = startProcess('cluster-egress-proxy', pcmd!, pargs, { logFile: join(o.logDir, 'cluster-egress.log') });
  const [scmd, ...sargs] = ns.enter([
    'socat',
    `UNIX-LISTEN:${o.socket},fork,mode=600,unlink-early`,
    `TCP:127.0.0.1:${PROXY_PORT}`,
  ]);
  const relay = startProcess('cluster-egress-relay', scmd!, sargs, { logFile: join(o.logDir, 'cluster-egress.log') });
  await waitFor(
    'the cluster egress proxy in the node namespace',
    async () => {
      await ns.exec(['bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${PROXY_PORT}`], 2_000);
      return true;
    },
    10_000,
    50,
  ).catch(async (err: unknown) => {
    await Promise.all([relay.stop(), proxy.stop()]);
    throw err;
  });
  return [proxy, relay];
}
