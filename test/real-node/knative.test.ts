/**
 * Knative Serving for real (issue 13), on the real node: Serving's controller, webhook, autoscaler and activator
 * built from their Go module, Traefik's Knative provider as the ingress, and a function of the project's own image
 * deployed with `kn` from its knative/ manifest. Requests go host → Traefik (a NodePort on the node's address) →
 * activator / queue-proxy → the function's pod.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform, type Platform } from '../../devcluster/platform.ts';
import { waitFor } from '../../devcluster/processes.ts';
import { loadKubeConfig } from '../../lib/kube/client.ts';
import {
  applyFunction,
  clusterLocalHost,
  createProviderSettings,
  functionPods,
  getVia,
  privateIngress,
  type Ingress,
} from '../support/knative.ts';

let stateDir: string;
let platform: Platform;
let admin: KubeConfig;
let ingress: Ingress;

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('the real node needs root');
  stateDir = mkdtempSync(join(tmpdir(), 'c2d-kn-'));
  platform = await startPlatform(stateDir, (m) => console.log(`[knative platform] ${m}`), {
    node: 'real',
    knative: true,
  });
  admin = loadKubeConfig(platform.env.kubeconfig);
  ingress = await privateIngress(platform, admin);
  await createProviderSettings(platform, admin);
}, 900_000);

afterAll(async () => {
  await platform?.stop();
  if (stateDir && !process.env.C2D_KEEP_STATE) rmSync(stateDir, { recursive: true, force: true });
}, 120_000);

describe('Knative Serving on the real node', () => {
  it('deploys a function with kn from its knative/ manifest, Ready, answering through Traefik', async () => {
    const r = await applyFunction(platform, 'info');
    expect(r.code, r.out).toBe(0);
    const res = await getVia(ingress, clusterLocalHost('info'));
    expect(res.status, res.body).toBe(200);
    expect(JSON.parse(res.body)).toHaveProperty('serviceEndpoints');
  }, 300_000);

  it('scales an idle function to zero pods, and answers the next request from zero', async () => {
    await waitFor('c2d-info to scale to zero', async () => (await functionPods(admin, 'info')) === 0, 180_000, 1_000);
    const res = await getVia(ingress, clusterLocalHost('info'));
    expect(res.status, res.body).toBe(200);
    expect(JSON.parse(res.body)).toHaveProperty('serviceEndpoints');
    expect(await functionPods(admin, 'info')).toBeGreaterThan(0);
  }, 240_000);
});
