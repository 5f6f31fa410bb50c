import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AppsV1Api,
  KubernetesObjectApi,
  loadAllYaml,
  PatchStrategy,
  type KubeConfig,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { cacheDir, knativeConfigDir, pinnedVersions, traefikGatewayCrdDir } from '../binaries.ts';
import { installCrds } from '../bootstrap.ts';
import { runBuildScript } from '../real-node/images.ts';
import { waitFor } from '../processes.ts';
import { applyOrder, servingObjects, type ServingSettings } from './serving-objects.ts';
import { TRAEFIK_NAMESPACE, traefikObjects } from './traefik-objects.ts';

const here = dirname(fileURLToPath(import.meta.url));
export const KNATIVE_NAMESPACE = 'knative-serving';
const KNATIVE_IMAGES = ['controller', 'activator', 'autoscaler', 'queue', 'webhook', 'traefik'] as const;
const DEPLOYMENTS: readonly [string, string][] = [
  [KNATIVE_NAMESPACE, 'controller'],
  [KNATIVE_NAMESPACE, 'webhook'],
  [KNATIVE_NAMESPACE, 'autoscaler'],
  [KNATIVE_NAMESPACE, 'activator'],
  [TRAEFIK_NAMESPACE, 'traefik'],
];
// Knative's defaults wait 60 s of no traffic (plus a grace period) before scaling to zero; 10 s keeps a test short
// and is what the experiment on this machine measured with.
const DEV_AUTOSCALER = { 'stable-window': '10s', 'scale-to-zero-grace-period': '10s' };
// The release asks 300m for the activator, which here only buffers requests to functions at zero. On this 2-CPU node
// Knative (600m with it), Traefik, CoreDNS and the results-store relay (150m), the engine's two replicas (200m) and
// the twelve functions' pods with their queue-proxies (1,250m) would ask 2,200m: a function woken last would wait,
// unscheduled, for another to scale to zero. At 100m everything fits (2,000m).
const DEV_CPU_REQUESTS = { activator: '100m' };

/** Wraps the Knative binaries as images (build-images.sh; a second each when cached) and returns the archives. */
export function knativeImageArchives(report: (m: string) => void): Record<string, string> {
  runBuildScript(join(here, 'build-images.sh'), 'the Knative images', report);
  const current = (n: string): string =>
    readFileSync(join(cacheDir(), 'images', `knative-${n}.current`), 'utf8').trim();
  return Object.fromEntries(KNATIVE_IMAGES.map((n) => [`knative-${n}`, current(n)]));
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((f) => {
      const p = join(dir, f);
      return statSync(p).isDirectory() ? yamlFiles(p) : f.endsWith('.yaml') ? [p] : [];
    });
}

function releaseObjects(dir: string): KubernetesObject[] {
  return yamlFiles(dir).flatMap((f) => (loadAllYaml(readFileSync(f, 'utf8')) as KubernetesObject[]).filter(Boolean));
}

async function deploymentAvailable(apps: AppsV1Api, namespace: string, name: string): Promise<boolean> {
  const d = await apps.readNamespacedDeployment({ namespace, name }).catch(() => undefined);
  return Boolean(d?.status?.conditions?.some((c) => c.type === 'Available' && c.status === 'True'));
}

async function established(api: KubernetesObjectApi, name: string): Promise<boolean> {
  const crd = (await api.read({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name },
  })) as KubernetesObject & { status?: { conditions?: { type: string; status: string }[] } };
  return Boolean(crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True'));
}

async function serverSideApply(api: KubernetesObjectApi, o: KubernetesObject): Promise<void> {
  try {
    await api.patch(o, undefined, undefined, 'c2d-local-stack', true, PatchStrategy.ServerSideApply);
  } catch (err) {
    throw new Error(
      `applying ${o.kind} ${o.metadata?.namespace ?? ''}/${o.metadata?.name}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}

/**
 * The Gateway API CRDs at the version Traefik is built against, over the base platform's (older) ones: applied, not
 * created, since those exist already.
 */
async function applyTraefikGatewayCrds(api: KubernetesObjectApi): Promise<void> {
  const crds = releaseObjects(traefikGatewayCrdDir()).filter((o) => o.kind === 'CustomResourceDefinition');
  if (!crds.length) throw new Error(`no Gateway API CRDs in ${traefikGatewayCrdDir()} (run build-binaries.sh knative)`);
  for (const crd of crds) await serverSideApply(api, crd);
  for (const crd of crds)
    await waitFor(`CRD ${crd.metadata!.name} established`, () => established(api, crd.metadata!.name!), 30_000, 100);
}

/**
 * Installs Knative Serving (its release YAML for this version, with the settings of serving-objects.ts) and Traefik
 * as its ingress and Gateway API implementation, then waits until every Deployment is Available. The images must already be on the node.
 */
export async function installKnativeServing(admin: KubeConfig, report: (m: string) => void): Promise<void> {
  const v = pinnedVersions();
  const dir = knativeConfigDir();
  const settings: ServingSettings = {
    servingVersion: v.KNATIVE_SERVING_VERSION!,
    // The project's images keep the names the manifests give them (docker.io/c2d/…); the node has them already.
    // Knative compares the parsed registry, and go-containerregistry parses docker.io as index.docker.io.
    registriesSkippingTagResolving: ['kind.local', 'ko.local', 'dev.local', 'docker.io', 'index.docker.io'],
    autoscaler: DEV_AUTOSCALER,
    cpuRequests: DEV_CPU_REQUESTS,
  };
  await installCrds(admin, join(dir, 'crds'));
  await installCrds(admin, join(dir, 'core', '300-resources'));
  const api = KubernetesObjectApi.makeApiClient(admin);
  await applyTraefikGatewayCrds(api);
  const objects = applyOrder([
    ...servingObjects(releaseObjects(dir), settings).filter((o) => o.kind !== 'CustomResourceDefinition'),
    ...traefikObjects(`dev.local/traefik:${v.TRAEFIK_VERSION}`),
  ]);
  for (const o of objects) await serverSideApply(api, o);
  const apps = admin.makeApiClient(AppsV1Api);
  for (const [namespace, name] of DEPLOYMENTS)
    await waitFor(
      `Deployment ${namespace}/${name} Available`,
      () => deploymentAvailable(apps, namespace, name),
      240_000,
      500,
    );
  report(`knative serving ${settings.servingVersion} and traefik ${v.TRAEFIK_VERSION} available`);
}
