import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  KubernetesObjectApi,
  loadAllYaml,
  PatchStrategy,
  type KubeConfig,
  type KubernetesObject,
} from '@kubernetes/client-node';

const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * manifests/network-policies.yaml, server-side applied as `kubectl apply -k manifests` would: the jobs' isolation, which
 * an algorithm pod's await-isolation container waits for before the algorithm starts.
 */
export async function applyNetworkPolicies(admin: KubeConfig): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(admin);
  const text = readFileSync(join(projectRoot, 'manifests/network-policies.yaml'), 'utf8');
  for (const doc of (loadAllYaml(text) as KubernetesObject[]).filter(Boolean))
    await api.patch(doc, undefined, undefined, 'c2d-local-stack', true, PatchStrategy.ServerSideApply);
}
