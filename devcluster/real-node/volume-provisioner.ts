import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, makeInformer, type KubeConfig, type V1PersistentVolumeClaim } from '@kubernetes/client-node';

export const VOLUME_PROVISIONER_USER = 'c2d:volume-provisioner';

/**
 * Gives every unbound claim a hostPath PersistentVolume of its own, pre-bound to it (the PV binder completes the
 * binding), in a directory under DIR that anyone may write: the pods run as non-root users and kubelet applies no
 * fsGroup to a hostPath. Nothing enforces the claim's size here. A deleted claim's volume and directory go with it.
 */
export async function startVolumeProvisioner(
  kc: KubeConfig,
  dir: string,
  log: (m: string) => void,
): Promise<{ stop(): void }> {
  const core = kc.makeApiClient(CoreV1Api);
  mkdirSync(dir, { recursive: true });
  const pvName = (pvc: V1PersistentVolumeClaim): string => `c2d-pv-${pvc.metadata!.uid}`;
  const provision = async (pvc: V1PersistentVolumeClaim): Promise<void> => {
    if (pvc.spec?.volumeName || pvc.metadata?.deletionTimestamp) return;
    const path = join(dir, pvc.metadata!.uid!);
    mkdirSync(path, { recursive: true });
    chmodSync(path, 0o1777);
    try {
      await core.createPersistentVolume({
        body: {
          metadata: { name: pvName(pvc), labels: { 'app.kubernetes.io/managed-by': 'c2d-devcluster' } },
          spec: {
            capacity: { storage: pvc.spec?.resources?.requests?.storage ?? '1Gi' },
            accessModes: pvc.spec?.accessModes ?? ['ReadWriteOnce'],
            persistentVolumeReclaimPolicy: 'Retain',
            storageClassName: pvc.spec?.storageClassName ?? '',
            claimRef: { namespace: pvc.metadata!.namespace, name: pvc.metadata!.name, uid: pvc.metadata!.uid },
            hostPath: { path, type: 'Directory' },
          },
        },
      });
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
    rmSync(join(dir, pvc.metadata!.uid!), { recursive: true, force: true });
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
