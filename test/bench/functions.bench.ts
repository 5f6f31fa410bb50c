/**
 * Functions benchmark, on a platform of its own (started here, stopped at the end). Each function runs as in its
 * container: the image's bundle (scripts/bundle-functions.ts, built here into dist/bundle/) under functions-framework,
 * with the environment its Knative Service gives it (its own ServiceAccount, PROVIDER_ADDRESS / PROVIDER_PUBLIC_KEY,
 * the key only for start and initialize).
 *
 *  1. Cold start, per function (median of COLD_RUNS): spawn → `ready` (first answer of the app: its 404 on a path
 *     nobody routes; what a TCP readiness probe lets through), and spawn → `first real answer`, to a request that
 *     goes through what the function uses (Kubernetes, the chain, signature checks); CPU time spent until then; RSS
 *     one second later. Then the floor: functions-framework serving a function that only answers "ok". Then, for
 *     comparison, the same functions compiled file by file by tsc (dist/functions/, what the image held before).
 *  2. status under load: 200 concurrent clients, 4,000 requests for single jobs, 1,000 jobs in the cluster.
 *  3. start latency excluding the engine (not running): POST /api/services/compute → 200 for START_RUNS starts,
 *     each on its own dataset and algorithm orders on the local chain, placed before the timing starts.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, createServer, get as httpGet, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { Wallet, getBytes, keccak256, toUtf8Bytes } from 'ethers';
import { load } from 'js-yaml';
import {
  algorithmDdo,
  datasetDdo,
  orderAsset,
  publishAsset,
  type PublishedAsset,
} from '../../devcluster/ocean-assets.ts';
import {
  applyAccessManifests,
  CONTROL_PLANE_ACCOUNTS,
  functionServiceAccount,
  mintServiceAccountIdentities,
} from '../../devcluster/identities.ts';
import { startPlatform } from '../../devcluster/platform.ts';
import { writeLocalConfig, localEnvironment } from '../../devcluster/local-stack.ts';
import { freePort, waitFor } from '../../devcluster/processes.ts';
import type { PlatformEnv } from '../../devcluster/platform-env.ts';
import { containerSectionChecksum } from '../../lib/access/algo-checksums.ts';
import { ENDPOINTS, FUNCTION_NAMES, INFO_ENDPOINT, type FunctionName } from '../../lib/api/endpoints.ts';
import { NONCE_FLOOR } from '../../lib/auth/nonce-policy.ts';
import { deleteText, logsText, resultText, startText, stopText } from '../../lib/auth/signed-texts.ts';
import { commandText, V2_COMMANDS } from '../../lib/auth/command-texts.ts';
import type { ProviderFee } from '../../lib/chain/provider-fee.ts';
import { buildJobConfigMap } from '../../lib/job/configmap.ts';
import { newJobId } from '../../lib/job/names.ts';
import { resultsStoreEnv } from '../../lib/job/results-store-config.ts';
import { initialStatus } from '../../lib/job/status.ts';
import { loadKubeConfig } from '../../lib/kube/client.ts';
import { workflow as fixtureWorkflow } from '../support/job-fixtures.ts';
import { bundleFunctions } from '../../scripts/bundle-functions.ts';

const FF_MAIN = 'node_modules/@google-cloud/functions-framework/build/src/main.js';
/** C2D_BENCH_SECTIONS=cold,start,status runs only those (all by default). */
const SECTIONS = new Set((process.env.C2D_BENCH_SECTIONS ?? 'cold,start,status').split(','));
const COLD_RUNS = 3;
const START_RUNS = 40;
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

const pct = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
};
const median = (values: number[]): number => pct(values, 50);
const sha256hex = (s: string): string => createHash('sha256').update(s).digest('hex');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** What ocean.js signs: an EIP-191 message over keccak256 of the text. */
const sign = (wallet: Wallet, message: string): Promise<string> =>
  wallet.signMessage(getBytes(keccak256(toUtf8Bytes(message))));

interface Setup {
  env: PlatformEnv;
  provider: Wallet;
  kubeconfigs: ReadonlyMap<string, string>;
}

/** The literal env values of knative/<name>.yaml's container (NODE_OPTIONS among them). */
function knativeEnv(name: FunctionName): Record<string, string | undefined> {
  const service = load(readFileSync(`knative/${name}.yaml`, 'utf8')) as {
    spec: { template: { spec: { containers: { env?: { name: string; value?: string }[] }[] } } };
  };
  return Object.fromEntries((service.spec.template.spec.containers[0]?.env ?? []).map((e) => [e.name, e.value]));
}

/** The environment of one function's Knative Service (knative/<name>.yaml and the c2d-provider ConfigMap). */
function functionEnv(
  s: Setup,
  name: FunctionName | 'floor',
  port: number,
  providerUrl = `http://127.0.0.1:${port}`,
): NodeJS.ProcessEnv {
  const { env } = s;
  const signer = name === 'start' || name === 'initialize';
  return {
    PATH: process.env.PATH,
    NODE_ENV: 'production',
    PORT: String(port),
    ...(name !== 'floor' && { NODE_OPTIONS: knativeEnv(name).NODE_OPTIONS }),
    KUBECONFIG: name === 'floor' ? undefined : s.kubeconfigs.get(functionServiceAccount(name)),
    JOBS_NAMESPACE: env.namespaces.jobs,
    SYSTEM_NAMESPACE: env.namespaces.system,
    CHAIN_ID: String(env.chainId),
    RPC_URL: env.rpcUrl,
    ERC721_FACTORY_ADDRESS: env.ocean.ERC721Factory,
    PROVIDER_URL: providerUrl,
    PROVIDER_ADDRESS: s.provider.address,
    PROVIDER_PUBLIC_KEY: s.provider.signingKey.publicKey,
    ...resultsStoreEnv(env.s3),
    ...(signer && { PROVIDER_KEY: env.keys.provider, PRIVATE_FILE_HOSTS_ALLOWED: '127.0.0.0/8' }),
  };
}

function spawnFunction(
  s: Setup,
  source: string,
  name: FunctionName | 'floor',
  port: number,
  opts: { log?: number; providerUrl?: string } = {},
): ChildProcess {
  const log = opts.log ?? 'ignore';
  return spawn(process.execPath, [FF_MAIN, `--source=${source}`, `--target=${name}`, `--port=${port}`], {
    env: functionEnv(s, name, port, opts.providerUrl),
    stdio: ['ignore', log, log],
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGKILL');
  await once(child, 'exit');
}

function procStats(pid: number): { rssMiB: number; cpuMs: number } {
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { rssMiB: rssKb / 1024, cpuMs: ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK };
}

interface RealRequest {
  path: string;
  method: string;
  headers?: Record<string, string>;
  body?: string;
}

/** A request to `name` that uses what the function talks to, from a fresh wallet (its first nonce) about a job nobody has. */
async function realRequest(s: Setup, name: FunctionName | 'floor'): Promise<RealRequest> {
  const caller = new Wallet(Wallet.createRandom().privateKey);
  const address = caller.address;
  const nonce = NONCE_FLOOR + 1n;
  const jobId = newJobId();
  const did = `did:op:${randomBytes(32).toString('hex')}`;
  const json = { 'content-type': 'application/json' };
  const q = (params: Record<string, string>): string => `?${new URLSearchParams(params)}`;
  switch (name) {
    case 'floor':
      return { path: '/', method: 'GET' };
    case 'info':
    case 'environments':
      return { path: [INFO_ENDPOINT, ...ENDPOINTS].find((e) => e.fn === name)!.path, method: 'GET' };
    case 'nonce':
      return { path: `/api/services/nonce${q({ userAddress: address })}`, method: 'GET' };
    case 'status':
      return { path: `/api/services/compute${q({ consumerAddress: address })}`, method: 'GET' };
    case 'encrypt':
      return {
        path: `/api/services/encrypt${q({ chainId: String(s.env.chainId) })}`,
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: '{"files":[]}',
      };
    case 'result':
      return {
        path: `/api/services/computeResult${q({ consumerAddress: address, jobId, index: '0', nonce: String(nonce), signature: await sign(caller, resultText({ address, jobId, index: 0, nonce })) })}`,
        method: 'GET',
      };
    case 'logs':
      return {
        path: `/api/services/computeLogs${q({ consumerAddress: address, jobId, stage: 'algorithm', nonce: String(nonce), signature: await sign(caller, logsText({ address, jobId, stage: 'algorithm', nonce })) })}`,
        method: 'GET',
      };
    case 'stop':
      return {
        path: '/api/services/compute',
        method: 'PUT',
        headers: json,
        body: JSON.stringify({
          consumerAddress: address,
          jobId,
          signature: await sign(caller, stopText({ address, jobId })),
        }),
      };
    case 'delete':
      return {
        path: '/api/services/compute',
        method: 'DELETE',
        headers: json,
        body: JSON.stringify({
          consumerAddress: address,
          jobId,
          nonce: String(nonce),
          signature: await sign(caller, deleteText({ address, jobId, documentId: undefined, nonce })),
        }),
      };
    case 'start':
      return {
        path: '/api/services/compute',
        method: 'POST',
        headers: json,
        body: JSON.stringify({
          consumerAddress: address,
          nonce: String(nonce),
          signature: await sign(caller, startText({ address, documentId: did, nonce })),
          environment: 'local-default',
          dataset: { documentId: did, serviceId: 'compute', transferTxId: `0x${randomBytes(32).toString('hex')}` },
          algorithm: {
            documentId: `did:op:${randomBytes(32).toString('hex')}`,
            serviceId: 'access',
            transferTxId: `0x${randomBytes(32).toString('hex')}`,
          },
        }),
      };
    case 'auth':
      return {
        path: '/v2/api/services/auth/token',
        method: 'POST',
        headers: json,
        body: JSON.stringify({
          address,
          nonce: '1',
          signature: await sign(caller, commandText(address, 1n, V2_COMMANDS.createToken)),
        }),
      };
    case 'initialize':
      return {
        path: '/api/services/initializeCompute',
        method: 'POST',
        headers: json,
        body: JSON.stringify({
          consumerAddress: address,
          datasets: [{ documentId: did, serviceId: 'compute' }],
          algorithm: { documentId: `did:op:${randomBytes(32).toString('hex')}`, serviceId: 'access' },
          compute: { env: 'local-default', validUntil: Math.floor(Date.now() / 1000) + 900 },
        }),
      };
  }
}

interface Cold {
  readyMs: number;
  realMs: number;
  cpuMs: number;
  rssMiB: number;
  status: number;
}

async function coldStart(s: Setup, source: string, name: FunctionName | 'floor'): Promise<Cold> {
  const port = await freePort();
  const request = await realRequest(s, name);
  const base = `http://127.0.0.1:${port}`;
  const t0 = performance.now();
  const child = spawnFunction(s, source, name, port);
  try {
    await waitFor(
      `${name} to answer`,
      async () => {
        const res = await fetch(`${base}/bench-ready-probe`).catch(() => undefined);
        await res?.arrayBuffer();
        return res !== undefined;
      },
      60_000,
      5,
    );
    const readyMs = performance.now() - t0;
    const res = await fetch(base + request.path, {
      method: request.method,
      headers: request.headers,
      body: request.body,
    });
    await res.arrayBuffer();
    const realMs = performance.now() - t0;
    const { cpuMs } = procStats(child.pid!);
    await sleep(1000);
    return { readyMs, realMs, cpuMs, rssMiB: procStats(child.pid!).rssMiB, status: res.status };
  } finally {
    await stopChild(child);
  }
}

async function coldStarts(s: Setup, label: string, sourceOf: (name: FunctionName) => string): Promise<void> {
  console.log(`\n${label}`);
  console.log('function        ready (ms)   first real answer (ms)   CPU until then (ms)   RSS after (MiB)   answer');
  for (const name of FUNCTION_NAMES) {
    const runs: Cold[] = [];
    for (let i = 0; i < COLD_RUNS; i++) runs.push(await coldStart(s, sourceOf(name), name));
    const m = (f: (c: Cold) => number): number => median(runs.map(f));
    console.log(
      `${name.padEnd(15)} ${m((c) => c.readyMs)
        .toFixed(0)
        .padStart(10)}   ${m((c) => c.realMs)
        .toFixed(0)
        .padStart(22)}   ` +
        `${m((c) => c.cpuMs)
          .toFixed(0)
          .padStart(19)}   ${m((c) => c.rssMiB)
          .toFixed(1)
          .padStart(15)}   HTTP ${[...new Set(runs.map((c) => c.status))].join('/')}`,
    );
  }
}

async function seedJobs(
  env: PlatformEnv,
  owners: string[],
  count: number,
): Promise<{ owner: string; jobId: string }[]> {
  const core = loadKubeConfig(env.kubeconfig).makeApiClient(CoreV1Api);
  const jobs: { owner: string; jobId: string }[] = [];
  const now = new Date();
  for (let i = 0; i < count; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, count - i) }, async (_, k) => {
        const owner = owners[(i + k) % owners.length]!;
        const jobId = newJobId();
        const did = `did:op:${'a'.repeat(63)}${(i + k) % 10}`;
        const tx = `0x${(i + k).toString(16).padStart(64, '0')}`;
        const workflow = fixtureWorkflow({
          jobId,
          owner,
          environment: 'local-default',
          agreementId: tx,
          dateCreated: now.toISOString(),
          datasets: [{ did, serviceId: 'compute', transferTxId: tx, files: [{ index: 0 }] }],
          algorithm: {
            kind: 'published',
            did,
            serviceId: 'access',
            transferTxId: tx,
            container: { image: 'node', tag: '24', entrypoint: 'node $ALGO' },
            files: [{ index: 0, checksum: 'a'.repeat(64) }],
          },
        });
        const status = {
          ...initialStatus(now),
          code: 70 as const,
          text: 'Job finished',
          dateFinished: now.toISOString(),
        };
        await core.createNamespacedConfigMap({
          namespace: env.namespaces.jobs,
          body: buildJobConfigMap(workflow, status, env.namespaces.jobs),
        });
        jobs.push({ owner, jobId });
      }),
    );
  }
  return jobs;
}

interface LoadPass {
  p50: number;
  p99: number;
  rps: number;
  errors: Map<string, number>;
}

/** One GET through `agent`: status and body. */
function get(agent: Agent, url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    httpGet(url, { agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

/**
 * `total` requests from `concurrency` clients, each sending its next request when its answer is in, over `agent`'s
 * kept-alive connections. node:http rather than fetch: with 200 fetches in flight, undici's own CPU time in this
 * process shows up as seconds of p99 even against a function that only answers "ok".
 */
async function loadPass(
  agent: Agent,
  concurrency: number,
  total: number,
  request: (i: number) => { url: string; check: (body: string) => boolean },
): Promise<LoadPass> {
  const latencies: number[] = [];
  const errors = new Map<string, number>();
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const { url, check } = request(next++);
        const started = performance.now();
        let problem: string | undefined;
        try {
          const res = await get(agent, url);
          if (res.status !== 200 || !check(res.body)) problem = `HTTP ${res.status} ${res.body.slice(0, 60)}`;
        } catch (err) {
          problem = String((err as Error).message ?? err).slice(0, 80);
        }
        latencies.push(performance.now() - started);
        if (problem) errors.set(problem, (errors.get(problem) ?? 0) + 1);
      }
    }),
  );
  return { p50: pct(latencies, 50), p99: pct(latencies, 99), rps: total / ((performance.now() - t0) / 1000), errors };
}

/**
 * Two passes against a function started for it: the first opens its `concurrency` connections as it goes (what the
 * figures before this benchmark counted), the second runs on those connections, kept alive.
 */
async function underLoad(
  s: Setup,
  source: string,
  name: FunctionName | 'floor',
  concurrency: number,
  total: number,
  request: (base: string, i: number) => { url: string; check: (body: string) => boolean },
): Promise<{ cold: LoadPass; warm: LoadPass; rssMiB: number }> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = spawnFunction(s, source, name, port);
  try {
    await waitFor(
      `${name} function`,
      async () => (await fetch(request(base, 0).url).catch(() => undefined))?.ok ?? false,
      60_000,
      20,
    );
    // One client first: the status function's job watch lists the namespace on its first request.
    for (let i = 0; i < 200; i++) await (await fetch(request(base, i).url)).text();
    await sleep(1000);
    const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
    try {
      const cold = await loadPass(agent, concurrency, total, (i) => request(base, i));
      const warm = await loadPass(agent, concurrency, total, (i) => request(base, i));
      return { cold, warm, rssMiB: procStats(child.pid!).rssMiB };
    } finally {
      agent.destroy();
    }
  } finally {
    await stopChild(child);
  }
}

function printLoad(label: string, pass: LoadPass): void {
  const errorCount = [...pass.errors.values()].reduce((a, b) => a + b, 0);
  const errorList = [...pass.errors].map(([k, v]) => `${v}× ${k}`).join('; ');
  console.log(
    `  ${label.padEnd(34)} p50 ${pass.p50.toFixed(1).padStart(7)} ms   p99 ${pass.p99.toFixed(1).padStart(8)} ms   ` +
      `${pass.rps.toFixed(0).padStart(5)} req/s   ${errorCount} errors${errorList ? ` (${errorList})` : ''}`,
  );
}

const ALGORITHM = "require('fs').writeFileSync(require('path').join(process.env.OUTPUTS, 'out.txt'), 'ok')\n";
const DATASET = '1,2\n3,4\n';
const CONTAINER = { entrypoint: 'node $ALGO', image: 'node', tag: '24', checksum: `sha256:${sha256hex('node:24')}` };

/** ocean.js types the fee's numbers as strings; the provider answers numbers, which the contracts take either way. */
const toFee = (f: Record<string, unknown>): ProviderFee =>
  ({
    ...f,
    v: Number(f.v),
    validUntil: Number(f.validUntil),
    providerFeeAmount: String(f.providerFeeAmount),
  }) as unknown as ProviderFee;

async function startLatency(s: Setup, runs: number): Promise<void> {
  const { env, provider } = s;
  const consumer = new Wallet(env.keys.consumer);
  const files = new Map<string, string>();
  const server: Server = createServer((req, res) => {
    const body = files.get(req.url ?? '');
    res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'text/plain' }).end(body ?? 'not found');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const filesBase = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const serve = (body: string): string => {
    const path = `/f-${randomBytes(6).toString('hex')}`;
    files.set(path, body);
    return filesBase + path;
  };
  const [startPort, initPort] = [await freePort(), await freePort()];
  const providerUrl = `http://127.0.0.1:${startPort}`;
  const logDir = mkdtempSync(join(tmpdir(), 'c2d-bench-start-'));
  // One provider URL for both, as behind the HTTPRoute: the DDOs name it, and both check the DDOs against it.
  const start = spawnFunction(s, 'dist/bundle/functions/start/index.js', 'start', startPort, {
    log: openLog(join(logDir, 'start.log')),
    providerUrl,
  });
  const init = spawnFunction(s, 'dist/bundle/functions/initialize/index.js', 'initialize', initPort, {
    log: openLog(join(logDir, 'initialize.log')),
    providerUrl,
  });
  try {
    const publish = (ddo: ReturnType<typeof datasetDdo>): Promise<PublishedAsset> =>
      publishAsset({
        rpcUrl: env.rpcUrl,
        ocean: env.ocean,
        publisherKey: env.keys.publisher,
        providerAddress: provider.address,
        encryptFilesTo: provider.signingKey.publicKey,
        mintTo: consumer.address,
        mintAmount: String(runs + 5),
        ddo,
      });
    // Both DDOs name the start function's URL as their provider, which is what start checks them against.
    const algorithm = await publish(
      algorithmDdo({
        name: 'bench',
        files: [{ type: 'url', url: serve(ALGORITHM), method: 'GET' }],
        serviceEndpoint: providerUrl,
        container: CONTAINER,
        language: 'javascript',
      }),
    );
    const dataset = await publish(
      datasetDdo({
        name: 'bench',
        files: [{ type: 'url', url: serve(DATASET), method: 'GET' }],
        serviceEndpoint: providerUrl,
        compute: {
          publisherTrustedAlgorithms: [
            {
              did: algorithm.did,
              filesChecksum: sha256hex(ALGORITHM),
              containerSectionChecksum: containerSectionChecksum(CONTAINER),
            },
          ],
        },
      }),
    );
    const ref = (a: PublishedAsset) => ({ documentId: a.did, serviceId: a.ddo.services[0]!.id });
    for (const [port, name] of [
      [startPort, 'start'],
      [initPort, 'initialize'],
    ] as const) {
      await waitFor(
        `${name} function (log in ${logDir})`,
        async () => (await fetch(`http://127.0.0.1:${port}/bench-ready-probe`).catch(() => undefined)) !== undefined,
        60_000,
        20,
      );
    }

    // Orders first: each start stands on a dataset order and an algorithm order of its own, as a job's orders may
    // not back another unfinished job.
    const t0 = performance.now();
    const orders: { datasetTx: string; algorithmTx: string }[] = [];
    for (let i = 0; i <= runs; i++) {
      const res = await fetch(`http://127.0.0.1:${initPort}/api/services/initializeCompute`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          datasets: [ref(dataset)],
          algorithm: ref(algorithm),
          compute: { env: 'local-default', validUntil: Math.floor(Date.now() / 1000) + 3600 },
          consumerAddress: consumer.address,
        }),
      });
      const quote = (await res.json()) as {
        datasets?: { providerFee?: Record<string, unknown> }[];
        algorithm?: { providerFee?: Record<string, unknown> };
      };
      const dsFee = quote.datasets?.[0]?.providerFee;
      const algoFee = quote.algorithm?.providerFee;
      if (!res.ok || !dsFee || !algoFee)
        throw new Error(`initializeCompute: HTTP ${res.status} ${JSON.stringify(quote)}`);
      const order = (asset: PublishedAsset, fee: ProviderFee) =>
        orderAsset({
          rpcUrl: env.rpcUrl,
          consumerKey: env.keys.consumer,
          datatokenAddress: asset.datatokenAddresses[0]!,
          serviceIndex: 0,
          providerFee: fee,
        });
      orders.push({
        datasetTx: await order(dataset, toFee(dsFee)),
        algorithmTx: await order(algorithm, toFee(algoFee)),
      });
    }
    console.log(`placed ${orders.length * 2} orders in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    let nonce = NONCE_FLOOR;
    const body = async (o: { datasetTx: string; algorithmTx: string }): Promise<string> => {
      nonce += 1n;
      return JSON.stringify({
        consumerAddress: consumer.address,
        nonce: String(nonce),
        signature: await sign(consumer, startText({ address: consumer.address, documentId: dataset.did, nonce })),
        environment: 'local-default',
        dataset: { ...ref(dataset), transferTxId: o.datasetTx },
        algorithm: { ...ref(algorithm), transferTxId: o.algorithmTx },
      });
    };
    const bodies: string[] = [];
    for (const o of orders) bodies.push(await body(o));
    const timeStart = async (b: string): Promise<{ ms: number; status: number; text: string }> => {
      const t = performance.now();
      const res = await fetch(`http://127.0.0.1:${startPort}/api/services/compute`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: b,
      });
      const text = await res.text();
      return { ms: performance.now() - t, status: res.status, text };
    };
    // The first start of a fresh function loads what start uses (client-node, the chain client): shown apart.
    const first = await timeStart(bodies[0]!);
    if (first.status !== 200) throw new Error(`start: HTTP ${first.status} ${first.text} (log in ${logDir})`);
    const latencies: number[] = [];
    let errors = 0;
    for (const b of bodies.slice(1)) {
      const r = await timeStart(b);
      if (r.status === 200 && /"status":1\b/.test(r.text)) latencies.push(r.ms);
      else {
        errors += 1;
        if (errors <= 3) console.log(`  start refused: HTTP ${r.status} ${r.text.slice(0, 200)}`);
      }
    }
    console.log(
      `start latency (POST → 200, engine not running), ${latencies.length} starts: p50 ${pct(latencies, 50).toFixed(0)} ms, ` +
        `p99 ${pct(latencies, 99).toFixed(0)} ms, max ${Math.max(...latencies).toFixed(0)} ms, ${errors} errors; ` +
        `first start after spawn ${first.ms.toFixed(0)} ms`,
    );
  } finally {
    await Promise.all([stopChild(start), stopChild(init)]);
    server.close();
    rmSync(logDir, { recursive: true, force: true });
  }
}

const openLog = (path: string): number => openSync(path, 'w');

const stateDir = mkdtempSync(join(tmpdir(), 'c2d-bench-fn-'));
const platform = await startPlatform(stateDir);
let identitiesStop: (() => void) | undefined;
try {
  console.log(
    'bundling the functions into dist/bundle/ (as the image does), and compiling them to dist/ (for comparison)',
  );
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], {
    stdio: 'inherit',
  });
  rmSync('dist/bundle', { recursive: true, force: true });
  await bundleFunctions(FUNCTION_NAMES, 'dist/bundle/functions');
  mkdirSync('dist/bench-floor', { recursive: true });
  writeFileSync(
    'dist/bench-floor/index.js',
    "import * as functions from '@google-cloud/functions-framework';\nfunctions.http('floor', (_req, res) => { res.send('ok'); });\n",
  );

  const env = platform.env;
  const admin = loadKubeConfig(env.kubeconfig);
  await writeLocalConfig(admin, env, localEnvironment(env));
  await applyAccessManifests(admin);
  const identities = await mintServiceAccountIdentities(admin, join(stateDir, 'identities'), CONTROL_PLANE_ACCOUNTS, {
    namespace: env.namespaces.system,
  });
  identitiesStop = () => identities.stop();
  const setup: Setup = { env, provider: new Wallet(env.keys.provider), kubeconfigs: identities.kubeconfigs };

  if (SECTIONS.has('cold')) {
    await coldStarts(
      setup,
      `cold start, bundled (dist/bundle/, what the image runs); median of ${COLD_RUNS}`,
      (n) => `dist/bundle/functions/${n}/index.js`,
    );
    const floor: Cold[] = [];
    for (let i = 0; i < COLD_RUNS; i++) floor.push(await coldStart(setup, 'dist/bench-floor/index.js', 'floor'));
    const m = (f: (c: Cold) => number): number => median(floor.map(f));
    console.log(
      `${'(floor)'.padEnd(15)} ${m((c) => c.readyMs)
        .toFixed(0)
        .padStart(10)}   ${m((c) => c.realMs)
        .toFixed(0)
        .padStart(22)}   ` +
        `${m((c) => c.cpuMs)
          .toFixed(0)
          .padStart(19)}   ${m((c) => c.rssMiB)
          .toFixed(1)
          .padStart(15)}   functions-framework serving "ok", nothing else loaded`,
    );
    await coldStarts(
      setup,
      `cold start, compiled file by file (dist/functions/, for comparison); median of ${COLD_RUNS}`,
      (n) => `dist/functions/${n}/index.js`,
    );
  }

  if (SECTIONS.has('start')) {
    console.log('');
    await startLatency(setup, START_RUNS);
  }

  if (SECTIONS.has('status')) {
    const owners = Array.from({ length: 10 }, () => Wallet.createRandom().address.toLowerCase());
    const t0 = performance.now();
    const jobs = await seedJobs(env, owners, 1000);
    console.log(`\nseeded ${jobs.length} job ConfigMaps in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const status = await underLoad(setup, 'dist/bundle/functions/status/index.js', 'status', 200, 4000, (base, i) => {
      const job = jobs[i % jobs.length]!;
      return {
        url: `${base}/api/services/compute?consumerAddress=${job.owner}&jobId=${job.jobId}`,
        check: (body) => body.includes(job.jobId),
      };
    });
    console.log('status (GET one job), 200 concurrent clients, 4000 requests, 1000 jobs in the cluster:');
    printLoad('first pass (200 new connections)', status.cold);
    printLoad('second pass (connections kept)', status.warm);
    console.log(`  function RSS afterwards ${status.rssMiB.toFixed(0)} MiB`);
    const floor = await underLoad(setup, 'dist/bench-floor/index.js', 'floor', 200, 4000, (base) => ({
      url: `${base}/`,
      check: (body) => body === 'ok',
    }));
    console.log('floor: functions-framework answering "ok", same load:');
    printLoad('first pass (200 new connections)', floor.cold);
    printLoad('second pass (connections kept)', floor.warm);
  }
} finally {
  identitiesStop?.();
  await platform.stop();
  rmSync(stateDir, { recursive: true, force: true });
}
