import { execFile } from 'node:child_process';
import { Agent, request } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { Wallet } from 'ethers';
import { TRAEFIK_NAMESPACE, TRAEFIK_PRIVATE_SERVICE } from '../../devcluster/knative/traefik-objects.ts';
import { applyAccessManifests } from '../../devcluster/identities.ts';
import { NAMESPACES, type Platform } from '../../devcluster/platform.ts';

const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '../..');
export const FUNCTION_IMAGE = 'docker.io/c2d/functions:0.1.0';

/** What deploy.sh expects to exist (docs/deploy.md): the functions' ServiceAccounts and the c2d-provider settings. */
export async function createProviderSettings(platform: Platform, admin: KubeConfig): Promise<void> {
  await applyAccessManifests(admin);
  const provider = new Wallet(platform.env.keys.provider);
  await admin.makeApiClient(CoreV1Api).createNamespacedConfigMap({
    namespace: NAMESPACES.system,
    body: {
      metadata: { name: 'c2d-provider' },
      data: {
        CHAIN_ID: String(platform.env.chainId),
        RPC_URL: platform.env.rpcUrl,
        PROVIDER_ADDRESS: provider.address,
        PROVIDER_PUBLIC_KEY: provider.signingKey.publicKey,
        ERC721_FACTORY_ADDRESS: platform.env.ocean.ERC721Factory!,
      },
    },
  });
}

/** Runs the platform's kn against it; resolves with the exit code and everything kn printed. */
export function kn(platform: Platform, args: string[], timeoutMs = 240_000): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      platform.env.kn,
      ['--kubeconfig', platform.env.kubeconfig, ...args],
      { timeout: timeoutMs },
      (err, stdout, stderr) => resolve({ code: err ? 1 : 0, out: `${stdout}${stderr}` }),
    );
  });
}

/** `kn service apply c2d-FN` from knative/FN.yaml, as deploy.sh does it, waiting until Ready. */
export function applyFunction(
  platform: Platform,
  fn: string,
  extra: string[] = [],
): Promise<{ code: number; out: string }> {
  return kn(platform, [
    'service',
    'apply',
    `c2d-${fn}`,
    '--namespace',
    NAMESPACES.system,
    '--filename',
    join(projectRoot, `knative/${fn}.yaml`),
    '--image',
    FUNCTION_IMAGE,
    ...extra,
    '--wait',
    '--wait-timeout',
    '200',
  ]);
}

export interface Ingress {
  host: string;
  port: number;
}

/** Traefik's private entrypoint as the host reaches it: its NodePort on the node's address. */
export async function privateIngress(platform: Platform, admin: KubeConfig): Promise<Ingress> {
  const svc = await admin
    .makeApiClient(CoreV1Api)
    .readNamespacedService({ namespace: TRAEFIK_NAMESPACE, name: TRAEFIK_PRIVATE_SERVICE });
  return { host: platform.realNode!.namespace.nodeAddress, port: svc.spec!.ports![0]!.nodePort! };
}

export const clusterLocalHost = (fn: string): string => `c2d-${fn}.${NAMESPACES.system}.svc.cluster.local`;

/** GET `path` through the ingress for the cluster-local `host`, timed. */
export function getVia(
  ingress: Ingress,
  host: string,
  path = '/',
  agent?: Agent,
): Promise<{ status: number; body: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(
      { host: ingress.host, port: ingress.port, path, headers: { host }, timeout: 30_000, agent },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ms: performance.now() - t0 }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${host}${path} within 30 s`)));
    req.on('error', reject);
    req.end();
  });
}

/** The pods of a function's revisions, terminating ones included (a draining queue-proxy still answers). */
export async function functionPods(admin: KubeConfig, fn: string): Promise<number> {
  const pods = await admin.makeApiClient(CoreV1Api).listNamespacedPod({
    namespace: NAMESPACES.system,
    labelSelector: `serving.knative.dev/service=c2d-${fn}`,
  });
  return pods.items.length;
}
