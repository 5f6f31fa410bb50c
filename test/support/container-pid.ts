import type { PlatformEnv } from '../../devcluster/platform-env.ts';
import { CONTAINERD_SOCKET } from '../../devcluster/real-node/containerd.ts';
import { joinNodeNamespace } from '../../devcluster/real-node/node-namespace.ts';

/**
 * The host pid of a container's first process, from the containerID its pod's status gives: `containerd://<id>` on the
 * real node (its task in containerd; the node's namespace shares the host's pids), `local://<pid>` on the bwrap node.
 */
export async function containerPid(env: PlatformEnv, containerId: string): Promise<number> {
  const [scheme, id] = containerId.split('://');
  if (scheme === 'local') return Number(id);
  if (scheme !== 'containerd' || !id || !env.nodeLink) throw new Error(`no way to find the process of ${containerId}`);
  const ns = joinNodeNamespace(env.nodeLink);
  const tasks = await ns.exec(['ctr', '--address', CONTAINERD_SOCKET, '--namespace', 'k8s.io', 'tasks', 'ls'], 10_000);
  const pid = tasks
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .find(([task]) => task === id)?.[1];
  if (!pid) throw new Error(`containerd has no task ${id}`);
  return Number(pid);
}
