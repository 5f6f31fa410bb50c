import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import {
  persistentVolumeFor,
  SELECTED_NODE,
  STORAGE_CLASS,
  storageClass,
} from '../../../../devcluster/real-node/volume-provisioner.ts';

const claim = (annotations: Record<string, string> = {}, extra: Partial<V1PersistentVolumeClaim['spec']> = {}) =>
  ({
    metadata: { name: 'data', namespace: 'jobs', uid: 'u-1', annotations },
    spec: {
      storageClassName: STORAGE_CLASS,
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: '64Mi' } },
      ...extra,
    },
  }) as V1PersistentVolumeClaim;

describe('volume provisioner', () => {
  it('is the default class, and binds a claim only once its first pod is scheduled', () => {
    expect(storageClass()).toMatchObject({
      metadata: { annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
      volumeBindingMode: 'WaitForFirstConsumer',
    });
  });

  it('makes a volume on the node the scheduler chose, pre-bound to the claim and reachable from that node only', () => {
    const pv = persistentVolumeFor(claim({ [SELECTED_NODE]: 'node-b' }), '/volumes/u-1');
    expect(pv?.spec).toMatchObject({
      capacity: { storage: '64Mi' },
      storageClassName: STORAGE_CLASS,
      claimRef: { namespace: 'jobs', name: 'data', uid: 'u-1' },
      hostPath: { path: '/volumes/u-1', type: 'Directory' },
      nodeAffinity: {
        required: {
          nodeSelectorTerms: [
            { matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['node-b'] }] },
          ],
        },
      },
    });
  });

  it('leaves claims without a chosen node, bound, being deleted or of another class alone', () => {
    const chosen = { [SELECTED_NODE]: 'node-a' };
    expect(persistentVolumeFor(claim(), '/v')).toBeUndefined();
    expect(persistentVolumeFor(claim(chosen, { volumeName: 'pv-1' }), '/v')).toBeUndefined();
    expect(persistentVolumeFor(claim(chosen, { storageClassName: 'other' }), '/v')).toBeUndefined();
    const deleting = claim(chosen);
    deleting.metadata!.deletionTimestamp = new Date();
    expect(persistentVolumeFor(deleting, '/v')).toBeUndefined();
  });
});
