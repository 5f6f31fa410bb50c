import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { CoreV1Api, V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';

/**
 * The local node's scheduler: every unscheduled pod that asks for the default scheduler is bound here. And its
 * volume provisioner: a claim is Bound at once (its directory appears when a pod first mounts it) and the
 * directory goes when the claim is deleted.
 */
export class Binder {
  constructor(
    private readonly core: CoreV1Api,
    private readonly nodeName: string,
    private readonly nodeRoot: string,
    private readonly log: (m: string, f?: Record<string, unknown>) => void,
  ) {}

  async bindPod(pod: V1Pod): Promise<void> {
    if (pod.spec?.nodeName || pod.metadata?.deletionTimestamp) return;
    const scheduler = pod.spec?.schedulerName ?? 'default-scheduler';
    if (scheduler !== 'default-scheduler') return;
    const { name, namespace, uid } = pod.metadata!;
    try {
      await this.core.createNamespacedPodBinding({
        name: name!,
        namespace: namespace!,
        body: { metadata: { name: name!, uid }, target: { apiVersion: 'v1', kind: 'Node', name: this.nodeName } },
      });
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (code !== 409 && code !== 404) this.log('binding failed', { pod: `${namespace}/${name}`, error: String(err) });
    }
  }

  async bindClaim(pvc: V1PersistentVolumeClaim): Promise<void> {
    if (pvc.status?.phase === 'Bound' || pvc.metadata?.deletionTimestamp) return;
    const { name, namespace } = pvc.metadata!;
    try {
      const current = await this.core.readNamespacedPersistentVolumeClaim({ name: name!, namespace: namespace! });
      current.status = {
        ...current.status,
        phase: 'Bound',
        accessModes: current.spec?.accessModes,
        capacity: current.spec?.resources?.requests,
      };
      await this.core.replaceNamespacedPersistentVolumeClaimStatus({
        name: name!,
        namespace: namespace!,
        body: current,
      });
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (code !== 409 && code !== 404)
        this.log('claim binding failed', { pvc: `${namespace}/${name}`, error: String(err) });
    }
  }

  releaseClaim(pvc: V1PersistentVolumeClaim): void {
    if (pvc.metadata?.uid) rmSync(join(this.nodeRoot, 'pvcs', pvc.metadata.uid), { recursive: true, force: true });
  }
}
