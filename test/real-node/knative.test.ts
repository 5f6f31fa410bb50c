/**
 * Knative Serving for real (issue 13), on the real node: Serving's controller, webhook, autoscaler and activator
 * built from their Go module, Traefik as the ingress and the Gateway API implementation, and every function deployed
 * by `knative/deploy.sh` with `kn`, behind the one provider URL its HTTPRoutes give (Traefik's public entrypoint, a
 * NodePort on the node's address). Requests go host → Traefik (HTTPRoute, Host rewritten) → Traefik's private
 * entrypoint (Knative's ingress) → activator / queue-proxy → the function's pod. The engine runs as
 * manifests/engine.yaml's Deployment in the project's engine image (deployEngine), jobs on the node: nothing of the
 * provider runs on the host. The compute flow comes last, when the functions the other tests woke are back at zero: on
 * this 2-CPU node, a job's pods are scheduled only where requests leave room.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deployEngine, ENGINE_DEPLOYMENT, type EngineDeployment } from '../../devcluster/knative/engine-deployment.ts';
import { deployProvider, runDeploy, type ProviderDeployment } from '../../devcluster/knative/provider.ts';
import { startPlatform, type Platform } from '../../devcluster/platform.ts';
import { waitFor } from '../../devcluster/processes.ts';
import { nodeImageId } from '../../devcluster/real-node/image-digest.ts';
import { startPublicFileServer, type PublicFileServer } from '../../devcluster/real-node/public-file-server.ts';
import { containerSectionChecksum } from '../../lib/access/algo-checksums.ts';
import { FUNCTION_NAMES, mountedEndpoints } from '../../lib/api/endpoints.ts';
import { StatusCode } from '../../lib/job/status.ts';
import { loadKubeConfig } from '../../lib/kube/client.ts';
import { fromFunction, functionPods, kn, probe, readFunctionService, send, type Answer } from '../support/knative.ts';
import { nodeContainer, OceanFlow, sha256hex } from '../support/ocean-flow.ts';

let stateDir: string;
let platform: Platform;
let admin: KubeConfig;
let provider: ProviderDeployment;
let engine: EngineDeployment;
let files: PublicFileServer;

const DATASET = 'x,y\n1,2\n3,4\n5,6\n';
const ALGORITHM = `
const fs = require('fs');
const did = JSON.parse(process.env.DIDS)[0];
const rows = fs.readFileSync(process.env.INPUTS + '/' + did + '/0', 'utf8').trim().split('\\n').slice(1);
const sum = rows.reduce((s, r) => s + Number(r.split(',')[1]), 0);
fs.writeFileSync(process.env.OUTPUTS + '/result.json', JSON.stringify({ rows: rows.length, sum }));
console.log('sum ' + sum);
`;

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('the real node needs root');
  stateDir = mkdtempSync(join(tmpdir(), 'c2d-kn-'));
  const report = (m: string): void => console.log(`[knative platform] ${m}`);
  platform = await startPlatform(stateDir, report, { knative: true });
  admin = loadKubeConfig(platform.env.kubeconfig);
  files = await startPublicFileServer(platform.realNode!.namespace, stateDir, '203.0.113.30', {
    'data.csv': DATASET,
    'algorithm.js': ALGORITHM,
  });
  provider = await deployProvider(platform, { report });
  // The node has 2 CPUs, and Knative's own Deployments request 0.6 of them: a job's algorithm asking for a whole one
  // would wait until every function's pod is gone.
  engine = await deployEngine(platform, { report, environment: { cpu: 0.5 } });
}, 1_200_000);

afterAll(async () => {
  await files?.stop();
  await provider?.stop();
  await platform?.stop();
  if (stateDir && !process.env.C2D_KEEP_STATE) rmSync(stateDir, { recursive: true, force: true });
}, 120_000);

/**
 * `clients` loops sending `request` until `stop()`; every answer must satisfy `ok`. Resolves with what each loop saw.
 */
function keepSending(
  clients: number,
  request: (agent: Agent) => Promise<Answer>,
  ok: (a: Answer) => boolean,
): { stop(): Promise<{ sent: number; failures: string[]; latencies: number[] }> } {
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  let running = true;
  let sent = 0;
  const failures: string[] = [];
  const latencies: number[] = [];
  const loops = Array.from({ length: clients }, async () => {
    while (running) {
      sent++;
      try {
        const a = await request(agent);
        if (ok(a)) latencies.push(a.ms);
        else failures.push(`${a.status} ${a.body.slice(0, 200)}`);
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      agent.destroy();
      return { sent, failures, latencies };
    },
  };
}

describe('the provider on Knative Serving, through its one URL', () => {
  it('deploys every function with knative/deploy.sh: its own Knative Service, Ready, cluster-local, with its ServiceAccount and autoscaling', async () => {
    console.log(
      `[knative figures] deploy.sh ${provider.deployMs} ms, then every function Ready ${provider.readyMs} ms`,
    );
    for (const fn of FUNCTION_NAMES) {
      const s = await readFunctionService(admin, fn);
      expect(s.status.conditions?.find((c) => c.type === 'Ready')?.status, fn).toBe('True');
      expect(s.status.url, fn).toBe(`http://c2d-${fn}.c2d-system.svc.cluster.local`);
      expect(s.metadata.labels?.['networking.knative.dev/visibility'], fn).toBe('cluster-local');
      expect(s.spec.template.spec.serviceAccountName, fn).toBe(`c2d-fn-${fn}`);
      expect(s.spec.template.metadata.annotations?.['autoscaling.knative.dev/min-scale'], fn).toBe('0');
      expect(s.status.latestReadyRevisionName, fn).toBe(`c2d-${fn}-00001`);
      expect(s.metadata.generation, fn).toBe(1);
    }
    // A publisher running it again with the same arguments changes nothing: no new generation, so no new revision.
    await runDeploy(platform, ['--no-wait']);
    for (const fn of FUNCTION_NAMES) expect((await readFunctionService(admin, fn)).metadata.generation, fn).toBe(1);
  }, 180_000);

  it("runs the engine as manifests/engine.yaml's Deployment: every replica a pod of the project's engine image, one leading", async () => {
    console.log(`[knative figures] engine Deployment rolled out and leading ${engine.readyMs} ms after it was applied`);
    const pods = await engine.pods();
    const deployment = await admin
      .makeApiClient(AppsV1Api)
      .readNamespacedDeployment({ name: ENGINE_DEPLOYMENT, namespace: platform.env.namespaces.system });
    expect(pods.length).toBe(deployment.spec!.replicas);
    // What containerd ran: the image docker/engine.Dockerfile built (build-project-images.sh), by its config digest.
    const ns = platform.realNode!.namespace;
    const engineImage = await nodeImageId(ns, 'docker.io/c2d/engine:0.1.0');
    expect(engineImage.entrypoint).toEqual(['node', 'dist/engine/main.js']);
    for (const pod of pods) {
      expect(pod.image, pod.name).toBe('c2d/engine:0.1.0');
      expect(pod.imageID, pod.name).toBe(engineImage.id);
      expect(pod.ready, pod.name).toBe(true);
    }
    expect(pods.map((p) => p.name)).toContain(await engine.leader());
  }, 60_000);

  it('answers every endpoint of both APIs from its function, through the HTTPRoutes', async () => {
    for (const e of mountedEndpoints()) {
      const a = await probe(provider.url, e);
      expect(fromFunction(a), `${e.method} ${e.path}: ${a.status} ${a.body}`).toBe(true);
    }
    const info = JSON.parse((await send(provider.url, '/')).body) as { serviceEndpoints: object; chainIds?: number[] };
    expect(info).toHaveProperty('serviceEndpoints');
    const v2 = JSON.parse((await send(provider.url, '/v2')).body) as Record<string, unknown>;
    expect(v2).toHaveProperty('nodePublicKey');
    // What the routes do not match is Traefik's 404, never a function's answer.
    const unrouted = await send(provider.url, '/api/services/nothing-here');
    expect(unrouted.status).toBe(404);
  }, 120_000);

  it('scales a function out to several pods under sustained concurrent load, and back to zero after, no failed request', async () => {
    // From an idle provider: on this 2-CPU node the twelve functions' first pods (after deploy) and Knative's own
    // Deployments request nearly all of it, and a pod the scheduler has no room for serves nothing.
    await waitFor(
      'every function at zero pods',
      async () => (await Promise.all(FUNCTION_NAMES.map((fn) => functionPods(admin, fn)))).every((n) => n === 0),
      240_000,
      1_000,
    );
    // start (target concurrency 10 in knative/start.yaml): a request with no body is refused 400 by the function
    // itself, before any chain or cluster call, so the load measures the platform, not the chain.
    const start = mountedEndpoints().find((e) => e.fn === 'start' && e.path === '/api/services/compute')!;
    let maxPods = 0;
    const watcher = setInterval(() => {
      void functionPods(admin, 'start', { ready: true }).then((n) => (maxPods = Math.max(maxPods, n)));
    }, 1_000);
    const load = keepSending(
      30,
      (agent) => probe(provider.url, start, agent),
      (a) => a.status === 400,
    );
    try {
      await waitFor('c2d-start to serve from 2 ready pods or more', async () => maxPods >= 2, 120_000, 500);
      await new Promise((r) => setTimeout(r, 10_000));
    } finally {
      clearInterval(watcher);
    }
    const { sent, failures, latencies } = await load.stop();
    const idle = Date.now();
    console.log(
      `[knative figures] c2d-start, 30 clients: ${sent} requests, ${failures.length} failed, up to ${maxPods} ready pods`,
    );
    expect(failures).toEqual([]);
    expect(latencies.length).toBe(sent);
    expect(maxPods).toBeGreaterThanOrEqual(2);
    await waitFor(
      'c2d-start back at zero pods',
      async () => (await functionPods(admin, 'start')) === 0,
      240_000,
      1_000,
    );
    console.log(`[knative figures] c2d-start at zero pods ${Date.now() - idle} ms after the load ended`);
  }, 600_000);

  it('shifts traffic to a new revision on `kn service update` while a client keeps sending requests, none failing', async () => {
    const before = await readFunctionService(admin, 'info');
    const load = keepSending(
      4,
      (agent) => send(provider.url, '/', { agent }),
      (a) => a.status === 200,
    );
    await new Promise((r) => setTimeout(r, 2_000));
    const update = await kn(platform, [
      'service',
      'update',
      'c2d-info',
      '--namespace',
      'c2d-system',
      '--env',
      'C2D_ROLLOUT=2',
      '--wait',
      '--wait-timeout',
      '200',
    ]);
    expect(update.code, update.out).toBe(0);
    let after = await readFunctionService(admin, 'info');
    await waitFor(
      'all of c2d-info traffic on its new revision',
      async () => {
        after = await readFunctionService(admin, 'info');
        return after.status.traffic?.[0]?.revisionName === after.status.latestReadyRevisionName;
      },
      60_000,
      250,
    );
    // Past the switch: the old revision's pod drains while these go to the new one.
    await new Promise((r) => setTimeout(r, 5_000));
    const { sent, failures, latencies } = await load.stop();
    console.log(
      `[knative figures] rollout of c2d-info under 4 clients: ${sent} requests, ${failures.length} failed, ` +
        `max ${Math.max(...latencies).toFixed(0)} ms`,
    );
    expect(failures).toEqual([]);
    expect(sent).toBeGreaterThan(50);
    expect(after.status.latestReadyRevisionName).not.toBe(before.status.latestReadyRevisionName);
    expect(after.status.traffic).toEqual([
      expect.objectContaining({ revisionName: after.status.latestReadyRevisionName, percent: 100 }),
    ]);
  }, 300_000);

  it('scales an idle function to zero pods, and answers the next request from zero', async () => {
    await waitFor('c2d-info to scale to zero', async () => (await functionPods(admin, 'info')) === 0, 240_000, 1_000);
    const res = await send(provider.url, '/');
    console.log(`[knative figures] c2d-info from zero through the provider URL: ${res.ms.toFixed(0)} ms`);
    expect(res.status, res.body).toBe(200);
    expect(JSON.parse(res.body)).toHaveProperty('serviceEndpoints');
    expect(await functionPods(admin, 'info')).toBeGreaterThan(0);
  }, 300_000);
  it("runs ocean.js 3.x's compute flow end to end: publish, initializeCompute, order, start, status, result", async () => {
    const flow = new OceanFlow(platform.env, { providerUrl: provider.url, environmentId: engine.environmentId });
    expect(flow.url).toBe(provider.url);
    const container = nodeContainer(platform.env);
    const algorithm = await flow.publishAlgorithm([files.url('algorithm.js')], container);
    const dataset = await flow.publishDataset(files.url('data.csv'), {
      publisherTrustedAlgorithms: [
        {
          did: algorithm.did,
          filesChecksum: sha256hex(ALGORITHM),
          containerSectionChecksum: containerSectionChecksum(container),
        },
      ],
    });
    const t0 = Date.now();
    const orders = await flow.initializeAndOrder(dataset, algorithm);
    const job = await flow.start(dataset, algorithm, orders);
    expect(job.jobId).toMatch(/^[0-9a-f]{32}$/);
    const done = await flow.untilFinished(job.jobId, 300_000);
    console.log(`[knative figures] ocean.js initialize → job finished: ${Date.now() - t0} ms`);
    expect(done.status, JSON.stringify(done)).toBe(StatusCode.JobFinished);
    const output = done.results.find((r) => r.filename === 'result.json');
    expect(output, JSON.stringify(done.results)).toBeDefined();
    expect(JSON.parse(await flow.result(job.jobId, output!.index!))).toEqual({ rows: 3, sum: 12 });
    // The engine that ran it is the Deployment's leading pod (its log, through the API server), not a host process.
    const leader = await engine.leader();
    expect((await engine.pods()).map((p) => p.name)).toContain(leader);
    const log = await admin
      .makeApiClient(CoreV1Api)
      .readNamespacedPodLog({ name: leader!, namespace: platform.env.namespaces.system, container: 'engine' });
    const finished = log
      .split('\n')
      .filter((l) => l.includes(job.jobId))
      .map((l) => JSON.parse(l) as { msg?: string; to?: number });
    expect(finished).toContainEqual(expect.objectContaining({ msg: 'job status', to: StatusCode.JobFinished }));
  }, 420_000);
});
