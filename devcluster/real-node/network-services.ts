import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startProcess, type ManagedProcess } from '../processes.ts';
import { CLUSTER_CIDR } from './containerd.ts';
import type { NodeNamespace } from './node-namespace.ts';

interface ServiceOptions {
  nodeName: string;
  stateDir: string;
  logDir: string;
  kubeconfig: string;
}

/** kube-proxy in iptables mode, touching no sysctl: no localhost node ports, conntrack left as the kernel has it. */
export function startKubeProxy(ns: NodeNamespace, binary: string, o: ServiceOptions): ManagedProcess {
  const config = join(o.stateDir, 'kube-proxy.yaml');
  writeFileSync(
    config,
    JSON.stringify(
      {
        apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
        kind: 'KubeProxyConfiguration',
        clientConnection: { kubeconfig: o.kubeconfig },
        mode: 'iptables',
        hostnameOverride: o.nodeName,
        clusterCIDR: CLUSTER_CIDR,
        bindAddress: ns.nodeAddress,
        healthzBindAddress: '127.0.0.1:10256',
        metricsBindAddress: '127.0.0.1:10249',
        iptables: { localhostNodePorts: false },
        conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
      },
      null,
      2,
    ),
  );
  const [cmd, ...args] = ns.enter([binary, `--config=${config}`]);
  return startProcess('kube-proxy', cmd!, args, { logFile: join(o.logDir, 'kube-proxy.log') });
}

/** kube-router as a NetworkPolicy enforcer only (no routing, no service proxy: the bridge and kube-proxy do those). */
export function startKubeRouter(ns: NodeNamespace, binary: string, o: ServiceOptions): ManagedProcess {
  const [cmd, ...args] = ns.enter([
    binary,
    `--kubeconfig=${o.kubeconfig}`,
    `--hostname-override=${o.nodeName}`,
    '--run-firewall=true',
    '--run-router=false',
    '--run-service-proxy=false',
    '--enable-cni=false',
    '--service-cluster-ip-range=10.96.0.0/16',
    '--metrics-port=0',
    '--health-port=20244',
    '--v=1',
  ]);
  return startProcess('kube-router', cmd!, args, { logFile: join(o.logDir, 'kube-router.log') });
}
