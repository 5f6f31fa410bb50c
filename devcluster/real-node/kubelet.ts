import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CertFiles } from '../certs.ts';
import { startProcess, type ManagedProcess } from '../processes.ts';
import { CONTAINERD_SOCKET } from './containerd.ts';
import type { NodeNamespace } from './node-namespace.ts';

export const CLUSTER_DNS = '10.96.0.10';
export const CLUSTER_DOMAIN = 'cluster.local';
/** Processes (threads included) a pod may have at once: a fork bomb ends there, not at the host's pid_max. */
export const POD_PIDS_LIMIT = 1024;
/** kubelet's health endpoint, on the node's loopback. */
const HEALTHZ_PORT = 10248;

export interface KubeletOptions {
  nodeName: string;
  stateDir: string;
  logDir: string;
  kubeconfig: string;
  clientCa: string;
  serving: CertFiles;
  /** The control group every pod of this node lives under, in each hierarchy (cgroup v1 here). */
  cgroupRoot: string;
}

/** KubeletConfiguration (JSON is YAML) for this VM: cgroupfs on cgroup v1, swap on, no image GC of the local images. */
export function kubeletConfig(ns: NodeNamespace, o: KubeletOptions): Record<string, unknown> {
  return {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: ns.nodeAddress,
    port: 10250,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: HEALTHZ_PORT,
    tlsCertFile: o.serving.cert,
    tlsPrivateKeyFile: o.serving.key,
    authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: o.clientCa } },
    authorization: { mode: 'Webhook' },
    containerRuntimeEndpoint: `unix://${CONTAINERD_SOCKET}`,
    cgroupDriver: 'cgroupfs',
    cgroupRoot: o.cgroupRoot,
    cgroupsPerQOS: true,
    failSwapOn: false,
    failCgroupV1: false,
    protectKernelDefaults: false,
    // The default, /usr/libexec/kubernetes/kubelet-plugins/volume/exec, is on the host's disk, outside the paths the
    // node's namespace keeps to itself.
    volumePluginDir: join(o.stateDir, 'volume-plugins'),
    clusterDNS: [CLUSTER_DNS],
    clusterDomain: CLUSTER_DOMAIN,
    resolvConf: join(o.stateDir, 'kubelet-resolv.conf'),
    // The node's images exist nowhere but here: they are never garbage-collected, nor evicted for disk pressure on a
    // shared development disk.
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    evictionHard: {
      'memory.available': '100Mi',
      'nodefs.available': '1%',
      'imagefs.available': '1%',
      'nodefs.inodesFree': '1%',
    },
    // How often kubelet measures each pod's volumes (default 1 min), which is how soon an emptyDir over its sizeLimit
    // is seen and its pod evicted.
    volumeStatsAggPeriod: '10s',
    serializeImagePulls: false,
    syncFrequency: '10s',
    fileCheckFrequency: '10s',
    nodeStatusUpdateFrequency: '5s',
    podPidsLimit: POD_PIDS_LIMIT,
    maxPods: 50,
    shutdownGracePeriod: '0s',
  };
}

/** Whether kubelet's health endpoint says ok. */
export async function kubeletHealthy(ns: NodeNamespace): Promise<boolean> {
  return (
    (await ns.exec(['curl', '-sf', '--max-time', '2', `http://127.0.0.1:${HEALTHZ_PORT}/healthz`], 5_000)).trim() ===
    'ok'
  );
}

export function startKubelet(ns: NodeNamespace, binary: string, o: KubeletOptions): ManagedProcess {
  const config = join(o.stateDir, 'kubelet-config.yaml');
  writeFileSync(config, JSON.stringify(kubeletConfig(ns, o), null, 2));
  // No upstream resolver: the node has no route to one; cluster names are CoreDNS's.
  writeFileSync(join(o.stateDir, 'kubelet-resolv.conf'), '');
  const [cmd, ...args] = ns.enter([
    binary,
    `--config=${config}`,
    `--kubeconfig=${o.kubeconfig}`,
    `--hostname-override=${o.nodeName}`,
    `--node-ip=${ns.nodeAddress}`,
    '--v=1',
  ]);
  return startProcess('kubelet', cmd!, args, { logFile: join(o.logDir, 'kubelet.log') });
}
