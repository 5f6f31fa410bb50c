/**
 * Knative Serving for real (issue 13), on the real node: Serving's controller, webhook, autoscaler and activator
 * built from their Go module, Traefik's Knative provider as the ingress, and a function of the project's own image
 * deployed with `kn` from its knative/ manifest. Requests go host → Traefik (a NodePort on the node's address) →
 * activator / queue-proxy → the function's pod.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api } from '@kubernetes/client-node';
import { Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TRAEFIK_NAMESPACE, TRAEFIK_PRIVATE_SERVICE } from '../../devcluster/knative/traefik-objects.ts';
import { applyAccessManifests } from '../../devcluster/identities.ts';
import { NAMESPACES, startPlatform, type Platform } from '../../devcluster/platform.ts';
import { waitFor } from '../../devcluster/processes.ts';
import { loadKubeConfig } from '../../lib/kube/client.ts';

const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '../..');
const SYSTEM = NAMESPACES.system;
const FUNCTION_IMAGE = 'docker.io/c2d/functions:0.1.0';

let stateDir: string;
let platform: Platform;
let core: CoreV1Api;
let ingress: { host: string; port: number };
const startup: string[] = [];

function kn(args: string[], timeoutMs = 240_000): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      platform.env.kn,
      ['--kubeconfig', platform.env.kubeconfig, ...args],
      { timeout: timeoutMs },
      (err, stdout, stderr) => resolve({ code: err ? 1 : 0, out: `${stdout}${stderr}` }),
    );
  });
}

/** GET `path` through Traefik's private entrypoint for the cluster-local host `host`. */
function viaIngress(host: string, path = '/'): Promise<{ status: number; body: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request({ host: ingress.host, port: ingress.port, path, headers: { host }, timeout: 30_000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ms: performance.now() - t0 }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${host}${path} within 30 s`)));
    req.on('error', reject);
    req.end();
  });
}

async function functionPods(name: string): Promise<number> {
  const pods = await core.listNamespacedPod({
    namespace: SYSTEM,
    labelSelector: `serving.knative.dev/service=${name}`,
  });
  // Terminating pods count: the queue-proxy of one still drains requests.
  return pods.items.length;
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('the real node needs root');
  stateDir = mkdtempSync(join(tmpdir(), 'c2d-kn-'));
  platform = await startPlatform(
    stateDir,
    (m) => {
      startup.push(m);
      console.log(`[knative platform] ${m}`);
    },
    { node: 'real', knative: true },
  );
  const admin = loadKubeConfig(platform.env.kubeconfig);
  core = admin.makeApiClient(CoreV1Api);
  const svc = await core.readNamespacedService({ namespace: TRAEFIK_NAMESPACE, name: TRAEFIK_PRIVATE_SERVICE });
  ingress = { host: platform.realNode!.namespace.nodeAddress, port: svc.spec!.ports![0]!.nodePort! };
  await applyAccessManifests(admin);
  // The settings a publisher creates (docs/deploy.md), with this platform's values.
  const provider = new Wallet(platform.env.keys.provider);
  await core.createNamespacedConfigMap({
    namespace: SYSTEM,
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
}, 900_000);

afterAll(async () => {
  await platform?.stop();
  if (stateDir && !process.env.C2D_KEEP_STATE) rmSync(stateDir, { recursive: true, force: true });
}, 120_000);

describe('Knative Serving on the real node', () => {
  it('deploys a function with kn from its knative/ manifest, Ready, answering through Traefik', async () => {
    const r = await kn([
      'service',
      'apply',
      'c2d-info',
      '--namespace',
      SYSTEM,
      '--filename',
      join(projectRoot, 'knative/info.yaml'),
      '--image',
      FUNCTION_IMAGE,
      '--wait',
      '--wait-timeout',
      '200',
    ]);
    expect(r.code, r.out).toBe(0);
    const res = await viaIngress(`c2d-info.${SYSTEM}.svc.cluster.local`);
    expect(res.status, res.body).toBe(200);
    expect(JSON.parse(res.body)).toHaveProperty('serviceEndpoints');
  }, 300_000);

  it('scales an idle function to zero pods, and answers the next request from zero', async () => {
    await waitFor('c2d-info to scale to zero', async () => (await functionPods('c2d-info')) === 0, 180_000, 1_000);
    const res = await viaIngress(`c2d-info.${SYSTEM}.svc.cluster.local`);
    expect(res.status, res.body).toBe(200);
    console.log(`[knative figures] cold request from zero through Traefik: ${res.ms.toFixed(0)} ms`);
    const warm = await viaIngress(`c2d-info.${SYSTEM}.svc.cluster.local`);
    expect(warm.status).toBe(200);
    console.log(`[knative figures] warm request: ${warm.ms.toFixed(1)} ms`);
  }, 240_000);
});
