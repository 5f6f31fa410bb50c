/**
 * Knative benchmark on the real node (issue 13): Serving + Traefik, functions deployed with kn from knative/. Needs
 * root and the real node's builds (`bash scripts/ensure-deps.sh real-node`).
 *
 *  1. Cold request from zero through the ingress, per function: wait until the function has no pod at all, then time
 *     one request (host → Traefik → activator → new pod → answer). COLD_RUNS each. The bench sets each function's
 *     scale-to-zero-pod-retention-period to 0 s (knative/*.yaml keep theirs) so that a run takes ~20 s, not a minute.
 *  2. Warm requests: CLIENTS concurrent clients, keep-alive, WARM_REQUESTS in all; p50/p99, requests/s, most pods seen.
 *  3. Time from the end of that load to zero pods.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPlatform } from '../../devcluster/platform.ts';
import { waitFor } from '../../devcluster/processes.ts';
import { loadKubeConfig } from '../../lib/kube/client.ts';
import {
  applyFunction,
  clusterLocalHost,
  createProviderSettings,
  functionPods,
  getVia,
  privateIngress,
} from '../support/knative.ts';

const COLD_RUNS = Number(process.env.COLD_RUNS ?? 6);
const CLIENTS = 50;
const WARM_REQUESTS = 5_000;
// info answers from memory; nonce reads the API server (the ServiceAccount's ConfigMap read).
const FUNCTIONS: { fn: string; path: string }[] = [
  { fn: 'info', path: '/' },
  { fn: 'nonce', path: '/api/services/nonce?userAddress=0x000000000000000000000000000000000000dEaD' },
];

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

if (process.getuid?.() !== 0) throw new Error('the knative bench needs root (the real node)');
const stateDir = mkdtempSync(join(tmpdir(), 'c2d-knb-'));
const platform = await startPlatform(stateDir, (m) => console.log(`[platform] ${m}`), { node: 'real', knative: true });
try {
  const admin = loadKubeConfig(platform.env.kubeconfig);
  const ingress = await privateIngress(platform, admin);
  await createProviderSettings(platform, admin);
  for (const { fn } of FUNCTIONS) {
    const r = await applyFunction(platform, fn, [
      '--annotation',
      'autoscaling.knative.dev/scale-to-zero-pod-retention-period=0s',
    ]);
    if (r.code !== 0) throw new Error(`kn service apply c2d-${fn} failed: ${r.out}`);
  }

  for (const { fn, path } of FUNCTIONS) {
    const cold: number[] = [];
    for (let i = 0; i < COLD_RUNS; i++) {
      await waitFor(`c2d-${fn} at zero pods`, async () => (await functionPods(admin, fn)) === 0, 180_000, 250);
      const res = await getVia(ingress, clusterLocalHost(fn), path);
      if (res.status !== 200) throw new Error(`cold ${fn}: ${res.status} ${res.body}`);
      cold.push(res.ms);
    }
    console.log(
      `cold request from zero, ${fn}: p50 ${pct(cold, 50).toFixed(0)} ms, p99 ${pct(cold, 99).toFixed(0)} ms ` +
        `(${COLD_RUNS} runs: ${cold.map((x) => x.toFixed(0)).join(', ')})`,
    );
  }

  for (const { fn, path } of FUNCTIONS) {
    const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
    await getVia(ingress, clusterLocalHost(fn), path, agent);
    const latencies: number[] = [];
    let failed = 0;
    let maxPods = 0;
    let sent = 0;
    const watcher = setInterval(() => {
      void functionPods(admin, fn).then((n) => (maxPods = Math.max(maxPods, n)));
    }, 1_000);
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (sent < WARM_REQUESTS) {
          sent++;
          const res = await getVia(ingress, clusterLocalHost(fn), path, agent).catch(() => undefined);
          if (res?.status === 200) latencies.push(res.ms);
          else failed++;
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    clearInterval(watcher);
    agent.destroy();
    console.log(
      `warm, ${fn}, ${CLIENTS} clients: p50 ${pct(latencies, 50).toFixed(1)} ms, p99 ${pct(latencies, 99).toFixed(1)} ms, ` +
        `${(latencies.length / seconds).toFixed(0)} requests/s, ${failed} failed, up to ${maxPods} pods`,
    );
    const idle = performance.now();
    await waitFor(`c2d-${fn} back at zero pods`, async () => (await functionPods(admin, fn)) === 0, 300_000, 500);
    console.log(`scaled to zero ${((performance.now() - idle) / 1000).toFixed(1)} s after the load ended`);
  }
} finally {
  await platform.stop();
  rmSync(stateDir, { recursive: true, force: true });
}
