/**
 * Knative benchmark on the real node (issue 13): Serving + Traefik, every function deployed by knative/deploy.sh,
 * every request through the provider's one URL (Traefik's Gateway API route → its Knative entrypoint → activator /
 * queue-proxy → pod). Needs root and the node's and Knative's builds (`bash scripts/ensure-deps.sh`).
 *
 *  1. Cold request from zero, per function: wait until no function has a pod, then send each function, one after
 *     the other, a request it answers without a signature (a 200, or its own 400 naming what is missing). COLD_RUNS
 *     rounds. The bench sets every function's scale-to-zero-pod-retention-period to 0 s (knative/*.yaml keep theirs)
 *     so that a round takes ~20 s, not a minute.
 *  2. Warm requests: CLIENTS concurrent clients, keep-alive, WARM_REQUESTS in all; p50/p99, requests/s, most pods seen.
 *  3. Time from the end of that load to zero pods.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deployProvider, functionServices } from '../../devcluster/knative/provider.ts';
import { startPlatform } from '../../devcluster/platform.ts';
import { waitFor } from '../../devcluster/processes.ts';
import { FUNCTION_NAMES, mountedEndpoints, type Endpoint } from '../../lib/api/endpoints.ts';
import { loadKubeConfig } from '../../lib/kube/client.ts';
import { fromFunction, functionPods, kn, pct, probe, type Answer } from '../support/knative.ts';

const COLD_RUNS = Number(process.env.COLD_RUNS ?? 6);
const CLIENTS = 50;
const WARM_REQUESTS = 5_000;
// info answers from memory; nonce reads the API server (the ServiceAccount's ConfigMap read).
const WARM = ['info', 'nonce'] as const;

/** The first route of each function (v1 where it has one). */
const firstEndpoint = (fn: string): Endpoint => mountedEndpoints().find((e) => e.fn === fn)!;

if (process.getuid?.() !== 0) throw new Error('the knative bench needs root (the real node)');
const stateDir = mkdtempSync(join(tmpdir(), 'c2d-knb-'));
const report = (m: string): void => console.log(`[platform] ${m}`);
const platform = await startPlatform(stateDir, report, { knative: true });
try {
  const admin = loadKubeConfig(platform.env.kubeconfig);
  const system = platform.env.namespaces.system;
  const provider = await deployProvider(platform, { report });
  console.log(`deploy.sh ${provider.deployMs} ms, every function Ready ${provider.readyMs} ms after`);
  try {
    // One function at a time, from an idle provider: on this 2-CPU node the twelve warm first pods and Knative's own
    // Deployments request nearly all of it, and a new revision's pod with no room fails the revision.
    const allAtZero = async (): Promise<boolean> =>
      (await Promise.all(FUNCTION_NAMES.map((fn) => functionPods(admin, fn)))).every((n) => n === 0);
    await waitFor('every function at zero pods', allAtZero, 240_000, 1_000);
    for (const fn of FUNCTION_NAMES) {
      const r = await kn(platform, [
        'service',
        'update',
        `c2d-${fn}`,
        '--namespace',
        system,
        '--annotation',
        'autoscaling.knative.dev/scale-to-zero-pod-retention-period=0s',
        '--wait',
        '--wait-timeout',
        '200',
      ]);
      if (r.code !== 0) throw new Error(`kn service update c2d-${fn} failed: ${r.out}`);
    }
    const services = await functionServices(admin, system);
    for (const fn of FUNCTION_NAMES)
      if (services.get(`c2d-${fn}`)?.revision !== `c2d-${fn}-00002`)
        throw new Error(`c2d-${fn} not on its 2nd revision`);

    const cold = new Map<string, number[]>(FUNCTION_NAMES.map((fn) => [fn, []]));
    const statuses = new Map<string, Set<number>>(FUNCTION_NAMES.map((fn) => [fn, new Set()]));
    for (let round = 0; round < COLD_RUNS; round++) {
      await waitFor('every function at zero pods', allAtZero, 240_000, 250);
      for (const fn of FUNCTION_NAMES) {
        const e = firstEndpoint(fn);
        const a: Answer = await probe(provider.url, e);
        if (!fromFunction(a)) throw new Error(`cold ${fn} (${e.method} ${e.path}): ${a.status} ${a.body}`);
        cold.get(fn)!.push(a.ms);
        statuses.get(fn)!.add(a.status);
      }
    }
    console.log(`cold request from zero through the provider URL (${COLD_RUNS} runs each):`);
    for (const fn of FUNCTION_NAMES) {
      const xs = cold.get(fn)!;
      const e = firstEndpoint(fn);
      console.log(
        `  ${fn.padEnd(13)} ${e.method} ${e.path} → ${[...statuses.get(fn)!].join('/')}: ` +
          `p50 ${pct(xs, 50).toFixed(0)} ms, p99 ${pct(xs, 99).toFixed(0)} ms (${xs.map((x) => x.toFixed(0)).join(', ')})`,
      );
    }

    for (const fn of WARM) {
      const e = firstEndpoint(fn);
      const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
      await probe(provider.url, e, agent);
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
            const res = await probe(provider.url, e, agent).catch(() => undefined);
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
    await provider.stop();
  }
} finally {
  await platform.stop();
  rmSync(stateDir, { recursive: true, force: true });
}
