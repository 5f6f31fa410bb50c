import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startProcess, waitFor, type ManagedProcess } from '../processes.ts';
import type { NodeNamespace } from './node-namespace.ts';

/** Inside the node's mount namespace /run is its own tmpfs, so these paths are the node's alone. */
export const CONTAINERD_SOCKET = '/run/containerd/containerd.sock';
/** Every node's pods are in this range, node N (from 0) in 10.244.N.0/24. */
export const CLUSTER_CIDR = '10.244.0.0/16';

export function podCidr(nodeIndex: number): string {
  if (!Number.isInteger(nodeIndex) || nodeIndex < 0 || nodeIndex > 255)
    throw new Error(`no pod range for node ${nodeIndex}`);
  return `10.244.${nodeIndex}.0/24`;
}
const CNI_BIN_DIR = '/usr/lib/cni';

/** containerd 1.6's configuration: own root, CRI with runc under cgroupfs, the locally built pause image. */
export function containerdConfig(opts: { root: string; cniConfDir: string; sandboxImage: string }): string {
  return `version = 2
root = ${JSON.stringify(opts.root)}
state = "/run/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = ${JSON.stringify(CONTAINERD_SOCKET)}

# The "opt" plugin's default is /opt/containerd on the host's disk.
[plugins."io.containerd.internal.v1.opt"]
  path = ${JSON.stringify(`${opts.root}/opt`)}

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = ${JSON.stringify(opts.sandboxImage)}
  # This VM's capability bounding set lacks CAP_SYS_RESOURCE: without this, runc fails every sandbox writing
  # oom_score_adj ("can't get final child's PID from pipe: EOF").
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = ${JSON.stringify(CNI_BIN_DIR)}
    conf_dir = ${JSON.stringify(opts.cniConfDir)}
`;
}

/**
 * One bridge for the node's pods, addresses from host-local. No masquerading here: traffic to another node's pods
 * keeps its pod address (NetworkPolicy on that node sees who sent it); node-routes.ts masquerades what
 * leaves the cluster's range.
 */
export function cniConfig(podCidr: string): string {
  return JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: 'c2d-pods',
      plugins: [
        {
          type: 'bridge',
          bridge: 'cni0',
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: { type: 'host-local', ranges: [[{ subnet: podCidr }]], routes: [{ dst: '0.0.0.0/0' }] },
        },
      ],
    },
    null,
    2,
  );
}

export interface Containerd {
  process: ManagedProcess;
  /** `ctr` against this containerd, in the k8s.io namespace the CRI uses. */
  ctr(args: string[], timeoutMs?: number): Promise<string>;
}

/** Where an instance's containerd keeps its images, snapshots and metadata. */
export function containerdRoot(stateDir: string): string {
  return join(stateDir, 'containerd', 'root');
}

/** Whether the node's containerd answers on its socket. */
export async function containerdAnswers(ns: NodeNamespace): Promise<boolean> {
  await ns.exec(['ctr', '--address', CONTAINERD_SOCKET, 'version'], 5_000);
  return true;
}

export async function startContainerd(
  ns: NodeNamespace,
  opts: {
    stateDir: string;
    logDir: string;
    sandboxImage: string;
    /** The node's pod range; absent for a containerd that runs no pod (the image seed's). */
    podCidr?: string;
    root?: string;
    name?: string;
  },
): Promise<Containerd> {
  const name = opts.name ?? 'containerd';
  const dir = join(opts.stateDir, name);
  const cniConfDir = join(dir, 'cni');
  mkdirSync(cniConfDir, { recursive: true });
  if (opts.podCidr) writeFileSync(join(cniConfDir, '10-c2d-pods.conflist'), cniConfig(opts.podCidr));
  const config = join(dir, 'config.toml');
  const root = opts.root ?? containerdRoot(opts.stateDir);
  writeFileSync(config, containerdConfig({ root, cniConfDir, sandboxImage: opts.sandboxImage }));
  const [cmd, ...args] = ns.enter(['containerd', '--config', config]);
  const process = startProcess(name, cmd!, args, { logFile: join(opts.logDir, `${name}.log`) });
  const ctr = (a: string[], timeoutMs?: number): Promise<string> =>
    ns.exec(['ctr', '--address', CONTAINERD_SOCKET, '--namespace', 'k8s.io', ...a], timeoutMs);
  await Promise.race([
    waitFor('containerd to answer on its socket', () => containerdAnswers(ns), 30_000, 100),
    process.exited.then((code) => {
      throw new Error(`containerd exited (${code}) during start-up; see ${process.logFile}`);
    }),
  ]);
  return { process, ctr };
}
