import { cpus, totalmem, release, arch } from 'node:os';
import type { CoreV1Api, V1Node, V1NodeStatus } from '@kubernetes/client-node';

/** The status the local node reports: always Ready, reachable for logs on 127.0.0.1:kubeletPort. */
function nodeStatus(kubeletPort: number, version: string): V1NodeStatus {
  const now = new Date();
  const capacity = {
    cpu: String(cpus().length),
    memory: `${Math.floor(totalmem() / 1024)}Ki`,
    pods: '250',
    'ephemeral-storage': '50Gi',
  };
  return {
    capacity,
    allocatable: capacity,
    addresses: [
      { type: 'InternalIP', address: '127.0.0.1' },
      { type: 'Hostname', address: 'localhost' },
    ],
    daemonEndpoints: { kubeletEndpoint: { Port: kubeletPort } },
    conditions: [
      {
        type: 'Ready',
        status: 'True',
        reason: 'LocalNodeReady',
        message: 'c2d local node is running pods under bwrap',
        lastHeartbeatTime: now,
        lastTransitionTime: now,
      },
      { type: 'MemoryPressure', status: 'False', reason: 'Local', lastHeartbeatTime: now, lastTransitionTime: now },
      { type: 'DiskPressure', status: 'False', reason: 'Local', lastHeartbeatTime: now, lastTransitionTime: now },
      { type: 'PIDPressure', status: 'False', reason: 'Local', lastHeartbeatTime: now, lastTransitionTime: now },
    ],
    nodeInfo: {
      machineID: 'c2d-local',
      systemUUID: 'c2d-local',
      bootID: String(process.pid),
      kernelVersion: release(),
      osImage: 'c2d local node (bwrap sandboxes)',
      containerRuntimeVersion: 'bwrap://local',
      kubeletVersion: version,
      kubeProxyVersion: '',
      operatingSystem: 'linux',
      architecture: arch() === 'x64' ? 'amd64' : arch(),
    },
  };
}

/** Creates this node's Node object if needed and keeps its status fresh. */
export async function registerNode(
  core: CoreV1Api,
  name: string,
  kubeletPort: number,
  version: string,
): Promise<() => Promise<void>> {
  const node: V1Node = {
    metadata: {
      name,
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'c2d.oceanprotocol.com/local-node': 'true',
      },
    },
  };
  try {
    await core.createNode({ body: node });
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
  }
  const update = async (): Promise<void> => {
    const current = await core.readNode({ name });
    current.status = nodeStatus(kubeletPort, version);
    await core.replaceNodeStatus({ name, body: current });
  };
  await update();
  return update;
}
