import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  KubernetesObjectApi,
  loadAllYaml,
  PatchStrategy,
  type KubeConfig,
  type KubernetesObject,
  type V1Pod,
} from '@kubernetes/client-node';
import type { Environment } from '../../lib/job/environments.ts';
import { loadKubeConfig } from '../../lib/kube/client.ts';
import { localEnvironment, writeLocalConfig } from '../local-stack.ts';
import type { Platform } from '../platform.ts';
import { waitFor } from '../processes.ts';

const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '../..');
/** manifests/engine.yaml's names. */
export const ENGINE_DEPLOYMENT = 'c2d-engine';
const ENGINE_LEASE = 'c2d-engine';
const ENGINE_SELECTOR = 'app.kubernetes.io/name=c2d-engine';

export interface EnginePod {
  name: string;
  /** The image the pod spec names, and the one the container runs (`containerStatuses[].imageID`). */
  image: string;
  imageID?: string;
  ready: boolean;
}

export interface EngineDeployment {
  /** The compute environment the engine and the functions offer (c2d-environments). */
  environmentId: string;
  /** How long from applying manifests/engine.yaml to every replica Ready and one of them holding the Lease. */
  readyMs: number;
  pods(): Promise<EnginePod[]>;
  /** The pod holding the engine's Lease (the one acting). */
  leader(): Promise<string | undefined>;
}

export interface EngineOptions {
  report?: (m: string) => void;
  /** The local compute environment, changed (default: localEnvironment's). */
  environment?: Partial<Environment>;
  /** Bound on the wait for the rollout (default 300 s). */
  readyTimeoutMs?: number;
}

/** manifests/engine.yaml's objects (the Deployment, its PodDisruptionBudget, the metrics Service), as the file has them. */
export function engineManifestObjects(): KubernetesObject[] {
  const text = readFileSync(join(projectRoot, 'manifests/engine.yaml'), 'utf8');
  return (loadAllYaml(text) as KubernetesObject[]).filter(Boolean);
}

function describePod(p: V1Pod): string {
  const waiting = (p.status?.containerStatuses ?? [])
    .map((c) => c.state?.waiting && `${c.name}: ${c.state.waiting.reason} ${c.state.waiting.message ?? ''}`.trim())
    .filter(Boolean);
  const unscheduled = p.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
  return `${p.metadata?.name} ${p.status?.phase}${unscheduled ? ` (${unscheduled.message})` : ''}${
    waiting.length ? ` [${waiting.join('; ')}]` : ''
  }`;
}

async function enginePods(admin: KubeConfig, namespace: string): Promise<V1Pod[]> {
  const list = await admin.makeApiClient(CoreV1Api).listNamespacedPod({ namespace, labelSelector: ENGINE_SELECTOR });
  return list.items.filter((p) => !p.metadata?.deletionTimestamp);
}

/**
 * Runs the engine as a publisher does (docs/deploy.md): manifests/engine.yaml applied unchanged, server-side, so its
 * Deployment's pods run the project's engine image (`c2d/engine:0.1.0`, which build-project-images.sh loads into the
 * node's containerd under that name) as the `c2d-engine` ServiceAccount, reaching the API server through the
 * `kubernetes` Service. Its settings come from where the manifest takes them: the `c2d-provider` ConfigMap (RPC_URL,
 * CHAIN_ID, ESCROW_ADDRESS: the chain relayed to the node's address) and, by secretKeyRef and a mounted Secret only,
 * `c2d-results-store` (the store by its in-cluster Service) and `c2d-provider-key` — all written by deployProvider,
 * which must have run. Here the local compute environment and the job namespace's Secrets are written first
 * (writeLocalConfig). Resolves once the rollout is complete and a replica holds the Lease.
 */
export async function deployEngine(platform: Platform, opts: EngineOptions = {}): Promise<EngineDeployment> {
  const report = opts.report ?? (() => undefined);
  const { env } = platform;
  if (!platform.realNode) throw new Error('deployEngine needs the real node');
  const namespace = env.namespaces.system;
  const admin = loadKubeConfig(env.kubeconfig);
  const core = admin.makeApiClient(CoreV1Api);
  const missing = (what: string) => (err: unknown) => {
    throw new Error(`deployEngine: ${what} in ${namespace} is missing; deployProvider writes it`, { cause: err });
  };
  await core.readNamespacedConfigMap({ name: 'c2d-provider', namespace }).catch(missing('the ConfigMap c2d-provider'));
  await core
    .readNamespacedSecret({ name: 'c2d-results-store', namespace })
    .catch(missing('the Secret c2d-results-store'));
  const environment = localEnvironment(env, opts.environment);
  await writeLocalConfig(admin, env, environment);

  const t0 = Date.now();
  const objects = engineManifestObjects();
  const wrongNamespace = objects.find((o) => o.metadata?.namespace !== namespace);
  if (wrongNamespace) throw new Error(`manifests/engine.yaml puts ${wrongNamespace.kind} outside ${namespace}`);
  const api = KubernetesObjectApi.makeApiClient(admin);
  for (const o of objects)
    await api.patch(o, undefined, undefined, 'c2d-local-stack', true, PatchStrategy.ServerSideApply);

  const apps = admin.makeApiClient(AppsV1Api);
  const leases = admin.makeApiClient(CoordinationV1Api);
  const leader = async (): Promise<string | undefined> => {
    const lease = await leases.readNamespacedLease({ name: ENGINE_LEASE, namespace }).catch(() => undefined);
    return lease?.spec?.holderIdentity ?? undefined;
  };
  let pods: V1Pod[] = [];
  await waitFor(
    () => `the engine Deployment rolled out and leading (pods: ${pods.map(describePod).join('; ') || 'none'})`,
    async () => {
      const d = await apps.readNamespacedDeployment({ name: ENGINE_DEPLOYMENT, namespace });
      pods = await enginePods(admin, namespace);
      const want = d.spec?.replicas ?? 1;
      const s = d.status;
      const rolledOut =
        (s?.observedGeneration ?? 0) >= (d.metadata?.generation ?? 1) &&
        s?.updatedReplicas === want &&
        s?.readyReplicas === want &&
        (s?.replicas ?? 0) === want;
      if (!rolledOut) return false;
      const holder = await leader();
      return pods.some((p) => p.metadata?.name === holder);
    },
    opts.readyTimeoutMs ?? 300_000,
    500,
  );
  const readyMs = Date.now() - t0;
  report(`engine Deployment (manifests/engine.yaml, ${pods.length} replicas) ready and leading in ${readyMs} ms`);
  return {
    environmentId: environment.id,
    readyMs,
    leader,
    pods: async () =>
      (await enginePods(admin, namespace)).map((p) => {
        const status = p.status?.containerStatuses?.find((c) => c.name === 'engine');
        return {
          name: p.metadata!.name!,
          image: p.spec!.containers.find((c) => c.name === 'engine')!.image!,
          ...(status?.imageID ? { imageID: status.imageID } : {}),
          ready: Boolean(p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')),
        };
      }),
  };
}
