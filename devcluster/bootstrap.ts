import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CoreV1Api,
  KubernetesObjectApi,
  loadAllYaml,
  type KubeConfig,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { waitFor } from './processes.ts';

const isConflict = (err: unknown): boolean => (err as { code?: number }).code === 409;

async function createIfMissing(fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (!isConflict(err)) throw err;
  }
}

/** Namespaces of the platform: the jobs namespace enforces PodSecurity `restricted`. */
export async function createNamespaces(kc: KubeConfig, ns: { system: string; jobs: string }): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await createIfMissing(() =>
    core.createNamespace({ body: { metadata: { name: ns.system, labels: { 'app.kubernetes.io/part-of': 'c2d' } } } }),
  );
  await createIfMissing(() =>
    core.createNamespace({
      body: {
        metadata: {
          name: ns.jobs,
          labels: {
            'app.kubernetes.io/part-of': 'c2d',
            'pod-security.kubernetes.io/enforce': 'restricted',
            'pod-security.kubernetes.io/enforce-version': 'latest',
          },
        },
      },
    }),
  );
  // Pods can only be created once the controller-manager has made the namespace's default ServiceAccount.
  for (const namespace of [ns.system, ns.jobs, 'default']) {
    await waitFor(
      `default ServiceAccount in ${namespace}`,
      async () => {
        await core.readNamespacedServiceAccount({ name: 'default', namespace });
        return true;
      },
      60_000,
      100,
    );
  }
}

/** Installs every CRD in `dir` (Knative Serving, Gateway API) and waits until each is Established. */
export async function installCrds(kc: KubeConfig, dir: string): Promise<string[]> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  const names: string[] = [];
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()) {
    for (const doc of loadAllYaml(readFileSync(join(dir, file), 'utf8')) as KubernetesObject[]) {
      if (doc?.kind !== 'CustomResourceDefinition') continue;
      names.push(doc.metadata!.name!);
      await createIfMissing(() => api.create(doc));
    }
  }
  for (const name of names) {
    await waitFor(
      `CRD ${name} established`,
      async () => {
        const crd = (await api.read({
          apiVersion: 'apiextensions.k8s.io/v1',
          kind: 'CustomResourceDefinition',
          metadata: { name },
        })) as KubernetesObject & { status?: { conditions?: { type: string; status: string }[] } };
        return Boolean(crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True'));
      },
      30_000,
      100,
    );
  }
  return names;
}
