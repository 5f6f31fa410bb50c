import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CoreV1Api,
  KubernetesObjectApi,
  loadAllYaml,
  PatchStrategy,
  type KubeConfig,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { FUNCTION_NAMES, type FunctionName } from '../lib/api/endpoints.ts';

const manifestsDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'manifests');

/**
 * The manifests that define who may do what: the engine's and every function's ServiceAccount, Roles and bindings,
 * and the admission policy narrowing the functions' ConfigMap writes. The rest of manifests/ (the engine
 * Deployment, quota, NetworkPolicies) describes a real cluster's workloads and is left to deploy.test.ts.
 */
const ACCESS_MANIFESTS = ['rbac-engine.yaml', 'rbac-functions.yaml', 'admission-policy.yaml'] as const;

export const ENGINE_SERVICE_ACCOUNT = 'c2d-engine';
export const functionServiceAccount = (fn: FunctionName): string => `c2d-fn-${fn}`;

/** Server-side applies the access manifests, exactly as `kubectl apply --server-side` would, as `kc`'s identity. */
export async function applyAccessManifests(kc: KubeConfig): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  for (const file of ACCESS_MANIFESTS) {
    const objects = loadAllYaml(readFileSync(join(manifestsDir, file), 'utf8')).filter(Boolean) as KubernetesObject[];
    for (const obj of objects) {
      await api.patch(obj, undefined, undefined, 'c2d-local-stack', true, PatchStrategy.ServerSideApply);
    }
  }
}

/** A kubeconfig for one ServiceAccount whose token is read from a file, re-read every minute by client-node. */
function serviceAccountKubeconfig(server: string, caData: string, account: string, tokenFile: string): object {
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'local', cluster: { server, 'certificate-authority-data': caData } }],
    // client-node's tokenFile auth provider is the one its in-cluster configuration uses for projected tokens.
    users: [{ name: account, user: { 'auth-provider': { name: 'tokenFile', config: { tokenFile } } } }],
    contexts: [{ name: account, context: { cluster: 'local', user: account } }],
    'current-context': account,
  };
}

export interface ServiceAccountIdentities {
  /** The kubeconfig file acting as each ServiceAccount (by name). */
  kubeconfigs: ReadonlyMap<string, string>;
  /** Mints fresh tokens now (also done on a timer until stop). */
  refresh(): Promise<void>;
  stop(): void;
}

export interface MintOptions {
  namespace: string;
  /** Token lifetime; tokens are renewed at half of it, as a kubelet renews projected tokens before they expire. */
  expirationSeconds?: number;
}

function writePrivate(path: string, data: string): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, data, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/**
 * Writes, under `dir`, one kubeconfig per ServiceAccount with a token minted through the TokenRequest API (as `kc`,
 * an administrator), and keeps the tokens fresh: processes started with these kubeconfigs act exactly as the pods
 * of a real deployment would, with nothing but the RBAC the manifests grant.
 */
export async function mintServiceAccountIdentities(
  kc: KubeConfig,
  dir: string,
  accounts: readonly string[],
  opts: MintOptions,
): Promise<ServiceAccountIdentities> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('admin kubeconfig has no current cluster');
  const caData = cluster.caData ?? (cluster.caFile ? readFileSync(cluster.caFile).toString('base64') : undefined);
  if (!caData) throw new Error('admin kubeconfig names no certificate authority');
  const core = kc.makeApiClient(CoreV1Api);
  const expirationSeconds = opts.expirationSeconds ?? 3600;
  mkdirSync(dir, { recursive: true, mode: 0o700 });

  const kubeconfigs = new Map<string, string>();
  const tokenFiles = new Map<string, string>();
  for (const account of accounts) {
    const tokenFile = join(dir, `${account}.token`);
    const kubeconfig = join(dir, `${account}.kubeconfig`);
    tokenFiles.set(account, tokenFile);
    kubeconfigs.set(account, kubeconfig);
    writePrivate(
      kubeconfig,
      JSON.stringify(serviceAccountKubeconfig(cluster.server, caData, account, tokenFile), null, 2),
    );
  }

  const refresh = async (): Promise<void> => {
    for (const [account, tokenFile] of tokenFiles) {
      const review = await core.createNamespacedServiceAccountToken({
        name: account,
        namespace: opts.namespace,
        body: { spec: { audiences: [], expirationSeconds } },
      });
      const token = review.status?.token;
      if (!token) throw new Error(`TokenRequest for ${opts.namespace}/${account} returned no token`);
      writePrivate(tokenFile, token);
    }
  };
  await refresh();

  const timer = setInterval(
    () => {
      refresh().catch((err: unknown) => process.stderr.write(`service account token refresh failed: ${String(err)}\n`));
    },
    (expirationSeconds * 1000) / 2,
  );
  timer.unref();
  return { kubeconfigs, refresh, stop: () => clearInterval(timer) };
}

/** Every ServiceAccount of the control plane: the engine's and each function's. */
export const CONTROL_PLANE_ACCOUNTS: readonly string[] = [
  ENGINE_SERVICE_ACCOUNT,
  ...FUNCTION_NAMES.map(functionServiceAccount),
];
