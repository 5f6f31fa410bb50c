import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CoreV1Api,
  CustomObjectsApi,
  KubernetesObjectApi,
  PatchStrategy,
  type KubeConfig,
  type V1ConfigMap,
  type V1Secret,
} from '@kubernetes/client-node';
import { Wallet } from 'ethers';
import { FUNCTION_NAMES } from '../../lib/api/endpoints.ts';
import { loadKubeConfig } from '../../lib/kube/client.ts';
import { applyAccessManifests } from '../identities.ts';
import { applyNetworkPolicies } from '../network-policies.ts';
import { LOCAL_OUTPUT_KEY } from '../local-stack.ts';
import type { Platform } from '../platform.ts';
import { waitFor, type ManagedProcess } from '../processes.ts';
import { startHostRelay } from '../real-node/api-relay.ts';
import { providerGateway, TRAEFIK_NAMESPACE, TRAEFIK_PUBLIC_SERVICE } from './traefik-objects.ts';

const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '../..');
/** The functions image as the node has it (build-project-images.sh): deploy.sh's REGISTRY/c2d/functions:TAG. */
export const FUNCTION_REGISTRY = 'docker.io';
export const FUNCTION_TAG = '0.1.0';
/** deploy.sh's HTTPRoutes, which Traefik reports on. */
const ROUTES = ['c2d-provider', 'c2d-provider-v2'];

export interface ProviderDeployment {
  /** The provider's one URL, as Ocean clients on the host reach it: Traefik's public entrypoint on the node. */
  url: string;
  /** The chain's JSON-RPC URL as the functions' pods reach it. */
  podRpcUrl: string;
  /** How long `knative/deploy.sh` took, and the wait for every function to be Ready after it. */
  deployMs: number;
  readyMs: number;
  /** Ends the relay that gives pods the chain (the Knative objects stay: they go with the platform). */
  stop(): Promise<void>;
}

export interface ProviderOptions {
  report?: (m: string) => void;
  /** More `c2d-provider` settings (e.g. PRIVATE_FILE_HOSTS_ALLOWED, STATUS_REQUIRES_SIGNATURE). */
  settings?: Record<string, string>;
  /** Bound on the wait for every function to be Ready (default 300 s). */
  readyTimeoutMs?: number;
}

/** Resolves with deploy.sh's output, or rejects with it. */
export function runDeploy(platform: Platform, args: string[], timeoutMs = 600_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'bash',
      [
        join(projectRoot, 'knative/deploy.sh'),
        FUNCTION_REGISTRY,
        platform.env.namespaces.system,
        '--jobs-namespace',
        platform.env.namespaces.jobs,
        '--kubeconfig',
        platform.env.kubeconfig,
        ...args,
      ],
      { timeout: timeoutMs, env: { ...process.env, KN: platform.env.kn }, maxBuffer: 4 * 1024 * 1024 },
      (err, stdout, stderr) =>
        err ? reject(new Error(`knative/deploy.sh failed: ${err.message}\n${stdout}${stderr}`)) : resolve(stdout),
    );
  });
}

async function upsert(core: CoreV1Api, body: V1ConfigMap | V1Secret, kind: 'ConfigMap' | 'Secret'): Promise<void> {
  const namespace = body.metadata!.namespace!;
  const name = body.metadata!.name!;
  try {
    if (kind === 'ConfigMap') await core.createNamespacedConfigMap({ namespace, body });
    else await core.createNamespacedSecret({ namespace, body });
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
    if (kind === 'ConfigMap') await core.replaceNamespacedConfigMap({ name, namespace, body });
    else await core.replaceNamespacedSecret({ name, namespace, body });
  }
}

type Conditions = { type: string; status: string; reason?: string; message?: string }[];

/** Every function's Knative Service, with its Ready condition and latest ready revision. */
export async function functionServices(
  admin: KubeConfig,
  namespace: string,
): Promise<Map<string, { ready: boolean; revision?: string; message?: string }>> {
  const list = (await admin.makeApiClient(CustomObjectsApi).listNamespacedCustomObject({
    group: 'serving.knative.dev',
    version: 'v1',
    namespace,
    plural: 'services',
  })) as {
    items: { metadata: { name: string }; status?: { conditions?: Conditions; latestReadyRevisionName?: string } }[];
  };
  return new Map(
    list.items.map((s) => {
      const ready = s.status?.conditions?.find((c) => c.type === 'Ready');
      return [
        s.metadata.name,
        {
          ready: ready?.status === 'True',
          revision: s.status?.latestReadyRevisionName,
          message: ready?.message ?? ready?.reason,
        },
      ];
    }),
  );
}

/** Whether Traefik accepted every HTTPRoute on the Gateway with all its backends resolved. */
async function routesAccepted(admin: KubeConfig, namespace: string): Promise<boolean> {
  const custom = admin.makeApiClient(CustomObjectsApi);
  for (const name of ROUTES) {
    const route = (await custom.getNamespacedCustomObject({
      group: 'gateway.networking.k8s.io',
      version: 'v1',
      namespace,
      plural: 'httproutes',
      name,
    })) as { status?: { parents?: { conditions?: Conditions }[] } };
    const conditions = route.status?.parents?.[0]?.conditions ?? [];
    for (const type of ['Accepted', 'ResolvedRefs'])
      if (!conditions.some((c) => c.type === type && c.status === 'True')) return false;
  }
  return true;
}

/**
 * Deploys the provider onto a platform with Knative (`startPlatform(…, { node: 'real', knative: true })`) as a
 * publisher would (docs/deploy.md): the ServiceAccounts, RBAC and NetworkPolicies of manifests/, the `c2d-provider` settings and the
 * two Secrets, a Gateway on Traefik, then `knative/deploy.sh` — every function its own Knative Service, and the
 * HTTPRoutes that give them one URL. Resolves once every function is Ready and Traefik serves the routes.
 *
 * The chain runs on the host's loopback, which pods cannot reach: a relay serves it on the node's address (the
 * functions' RPC_URL), as the API server and the object store are relayed (real-node/api-relay.ts).
 */
export async function deployProvider(platform: Platform, opts: ProviderOptions = {}): Promise<ProviderDeployment> {
  const report = opts.report ?? (() => undefined);
  const node = platform.realNode;
  const podS3Endpoint = platform.env.podS3Endpoint;
  if (!node || !podS3Endpoint) throw new Error('deployProvider needs the real node with Knative');
  const { env } = platform;
  const namespace = env.namespaces.system;
  const admin = loadKubeConfig(env.kubeconfig);
  const core = admin.makeApiClient(CoreV1Api);

  const chainPort = Number(new URL(env.rpcUrl).port);
  const relay: ManagedProcess[] = await startHostRelay(node.namespace, {
    name: 'chain',
    hostPort: chainPort,
    listen: `${chainPort},bind=${node.namespace.nodeAddress}`,
    probe: `${node.namespace.nodeAddress}/${chainPort}`,
    stateDir: env.stateDir,
    logDir: join(env.stateDir, 'logs'),
  });
  const stop = async (): Promise<void> => {
    for (const p of relay) await p.stop();
  };
  try {
    const podRpcUrl = `http://${node.namespace.nodeAddress}:${chainPort}`;
    const publicService = await core.readNamespacedService({
      namespace: TRAEFIK_NAMESPACE,
      name: TRAEFIK_PUBLIC_SERVICE,
    });
    const url = `http://${node.namespace.nodeAddress}:${publicService.spec!.ports![0]!.nodePort!}`;

    await applyAccessManifests(admin);
    await applyNetworkPolicies(admin);
    const provider = new Wallet(env.keys.provider);
    await upsert(
      core,
      {
        metadata: { name: 'c2d-provider', namespace },
        data: {
          CHAIN_ID: String(env.chainId),
          RPC_URL: podRpcUrl,
          PROVIDER_URL: url,
          PROVIDER_ADDRESS: provider.address,
          PROVIDER_PUBLIC_KEY: provider.signingKey.publicKey,
          // The publish pods hold its private half (c2d-output-key, written with the engine's local settings).
          OUTPUT_PUBLIC_KEY: new Wallet(LOCAL_OUTPUT_KEY).signingKey.compressedPublicKey,
          ERC721_FACTORY_ADDRESS: env.ocean.ERC721Factory!,
          ...(env.ocean.Escrow ? { ESCROW_ADDRESS: env.ocean.Escrow } : {}),
          ...opts.settings,
        },
      },
      'ConfigMap',
    );
    await upsert(
      core,
      { metadata: { name: 'c2d-provider-key', namespace }, stringData: { privateKey: env.keys.provider } },
      'Secret',
    );
    await upsert(
      core,
      {
        metadata: { name: 'c2d-results-store', namespace },
        stringData: { ...env.s3, endpoint: podS3Endpoint },
      },
      'Secret',
    );
    await KubernetesObjectApi.makeApiClient(admin).patch(
      providerGateway(namespace),
      undefined,
      undefined,
      'c2d-local-stack',
      true,
      PatchStrategy.ServerSideApply,
    );

    const t0 = Date.now();
    await runDeploy(platform, ['--no-wait']);
    const deployMs = Date.now() - t0;
    let services = new Map<string, { ready: boolean; message?: string }>();
    await waitFor(
      () =>
        `every function Ready (not yet: ${[...services]
          .filter(([, s]) => !s.ready)
          .map(([n, s]) => `${n}: ${s.message ?? 'no status'}`)
          .join('; ')})`,
      async () => {
        services = await functionServices(admin, namespace);
        return FUNCTION_NAMES.every((fn) => services.get(`c2d-${fn}`)?.ready);
      },
      opts.readyTimeoutMs ?? 300_000,
      1_000,
    );
    const readyMs = Date.now() - t0 - deployMs;
    await waitFor('Traefik to accept the HTTPRoutes', () => routesAccepted(admin, namespace), 60_000, 250);
    await waitFor(
      `the provider URL ${url} to answer GET /`,
      async (signal) => (await fetch(`${url}/`, { signal })).status === 200,
      60_000,
      250,
    );
    report(
      `provider deployed by knative/deploy.sh in ${deployMs} ms, every function Ready ${readyMs} ms later: ${url}`,
    );
    return { url, podRpcUrl, deployMs, readyMs, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
