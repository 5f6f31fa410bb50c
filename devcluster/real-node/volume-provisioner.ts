import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  CoreV1Api,
  KubernetesObjectApi,
  makeInformer,
  PatchStrategy,
  type KubeConfig,
  type KubernetesObject,
  type V1PersistentVolume,
  type V1PersistentVolumeClaim,
} from '@kubernetes/client-node';

export const VOLUME_PROVISIONER_USER = 'c2d:volume-provisioner';
export const STORAGE_CLASS = 'c2d-host-path';
const PROVISIONER = 'c2d.local/host-path';
/** Set on a claim by kube-scheduler once it has placed the claim's first pod (WaitForFirstConsumer). */
export const SELECTED_NODE = 'volume.kubernetes.io/selected-node';

/**
 * The cluster's default StorageClass. Its claims wait for their first pod: the scheduler picks that pod's node and
 * names it on the claim, the provisioner makes a volume there, and every later pod of the claim is scheduled to the
 * volume's node (a job's three pods share one node with its volume).
 */
export function storageClass(): KubernetesObject {
  return {
    apiVersion: 'storage.k8s.io/v1',
    kind: 'StorageClass',
    metadata: {
      name: STORAGE_CLASS,
      annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' },
      labels: { 'app.kubernetes.io/managed-by': 'c2d-devcluster' },
    },
    provisioner: PROVISIONER,
    volumeBindingMode: 'WaitForFirstConsumer',
    reclaimPolicy: 'Delete',
  } as KubernetesObject;
}

export async function applyStorageClass(admin: KubeConfig): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(admin);
  await api.patch(storageClass(), undefined, undefined, 'c2d-devcluster', true, PatchStrategy.ServerSideApply);
}

/**
 * The volume for a claim of the class, once the scheduler has chosen its node: a hostPath in `path` on that node,
 * bound to the claim ahead (the PV binder completes the binding) and reachable only from that node.
 */
export function persistentVolumeFor(pvc: V1PersistentVolumeClaim, path: string): V1PersistentVolume | undefined {
  const node = pvc.metadata?.annotations?.[SELECTED_NODE];
  if (pvc.spec?.volumeName || pvc.metadata?.deletionTimestamp || pvc.spec?.storageClassName !== STORAGE_CLASS)
    return undefined;
  if (!node) return undefined;
  return {
    metadata: { name: pvName(pvc), labels: { 'app.kubernetes.io/managed-by': 'c2d-devcluster' } },
    spec: {
      capacity: { storage: pvc.spec?.resources?.requests?.storage ?? '1Gi' },
      accessModes: pvc.spec?.accessModes ?? ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: 'Retain',
      storageClassName: STORAGE_CLASS,
      claimRef: { namespace: pvc.metadata!.namespace, name: pvc.metadata!.name, uid: pvc.metadata!.uid },
      hostPath: { path, type: 'Directory' },
      nodeAffinity: {
        required: {
          nodeSelectorTerms: [
            { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [node] }] },
          ],
        },
      },
    },
  };
}

const pvName = (pvc: V1PersistentVolumeClaim): string => `c2d-pv-${pvc.metadata!.uid}`;

/**
 * Gives every claim of STORAGE_CLASS a hostPath PersistentVolume of its own on the node the scheduler chose for it,
 * in a directory below `volumesDir(node)` that anyone may write: the pods run as non-root users and kubelet applies
 * no fsGroup to a hostPath. Nothing enforces the claim's size here. A deleted claim's volume and directory go with it.
 */
export async function startVolumeProvisioner(
  kc: KubeConfig,
  volumesDir: (node: string) => string,
  log: (m: string) => void,
): Promise<{ stop(): void }> {
  const core = kc.makeApiClient(CoreV1Api);
  const dirOf = (pvc: V1PersistentVolumeClaim): string | undefined => {
    const node = pvc.metadata?.annotations?.[SELECTED_NODE];
    return node ? join(volumesDir(node), pvc.metadata!.uid!) : undefined;
  };
  const provision = async (pvc: V1PersistentVolumeClaim): Promise<void> => {
    const path = dirOf(pvc);
    const pv = path && persistentVolumeFor(pvc, path);
    if (!path || !pv) return;
    mkdirSync(path, { recursive: true });
    chmodSync(path, 0o1777);
    try {
      await core.createPersistentVolume({ body: pv });
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw err;
    }
  };
  const release = async (pvc: V1PersistentVolumeClaim): Promise<void> => {
    try {
      await core.deletePersistentVolume({ name: pvName(pvc) });
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
    }
    const path = dirOf(pvc);
    if (path) rmSync(path, { recursive: true, force: true });
  };
  const informer = makeInformer(kc, '/api/v1/persistentvolumeclaims', () =>
    core.listPersistentVolumeClaimForAllNamespaces(),
  );
  const handle =
    (what: string, fn: (pvc: V1PersistentVolumeClaim) => Promise<void>) =>
    (pvc: V1PersistentVolumeClaim): void => {
      fn(pvc).catch((err: unknown) =>
        log(`volume provisioner: ${what} ${pvc.metadata?.namespace}/${pvc.metadata?.name} failed: ${String(err)}`),
      );
    };
  informer.on('add', handle('provisioning', provision));
  informer.on('update', handle('provisioning', provision));
  informer.on('delete', handle('releasing', release));
  let stopped = false;
  informer.on('error', (err: unknown) => {
    if (stopped) return;
    log(`volume provisioner: watch failed (${String(err)}), restarting`);
    setTimeout(() => void informer.start().catch(() => undefined), 500);
  });
  await informer.start();
  return {
    stop: () => {
      stopped = true;
      void informer.stop();
    },
  };
}
