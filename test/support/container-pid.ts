import type { PlatformEnv } from '../../devcluster/platform-env.ts';
import { CONTAINERD_SOCKET } from '../../devcluster/real-node/containerd.ts';
import { joinNodeNamespace } from '../../devcluster/real-node/node-namespace.ts';

/**
 * The host pid of a container's first process, from the containerID its pod's status gives (`containerd://<id>`): its
 * task in the node's containerd (the node's namespace shares the host's pids).
 */
export async function containerPid(env: PlatformEnv, containerId: string): Promise<number> {
  const [scheme, id] = containerId.split('://');
  if (scheme !== 'containerd' || !id) throw new Error(`no way to find the process of ${containerId}`);
  const ns = joinNodeNamespace(env.nodeLink);
  const tasks = await ns.exec(['ctr', '--address', CONTAINERD_SOCKET, '--namespace', 'k8s.io', 'tasks', 'ls'], 10_000);
  const pid = tasks
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .find(([task]) => task === id)?.[1];
  if (!pid) throw new Error(`containerd has no task ${id}`);
  return Number(pid);
}
