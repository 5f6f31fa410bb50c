/**
 * Functions benchmark: per function, cold start (process spawn → first HTTP answer on its route) and idle RSS,
 * run as in a container (compiled JS under functions-framework); then status p50/p99 under 200 concurrent
 * requests with 1,000 jobs in the cluster. Starts its own platform and stops it at the end.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { Wallet } from 'ethers';
import { startPlatform } from '../../devcluster/platform.ts';
import { writeLocalConfig, localEnvironment } from '../../devcluster/local-stack.ts';
import { freePort, waitFor } from '../../devcluster/processes.ts';
import { FUNCTION_NAMES, endpointOf, type FunctionName } from '../../lib/api/endpoints.ts';
import { buildJobConfigMap } from '../../lib/job/configmap.ts';
import { newJobId } from '../../lib/job/names.ts';
import { initialStatus } from '../../lib/job/status.ts';
import { loadKubeConfig } from '../../lib/kube/client.ts';
import type { Workflow } from '../../lib/job/workflow.ts';
import type { PlatformEnv } from '../../devcluster/platform-env.ts';

const FF_MAIN = 'node_modules/@google-cloud/functions-framework/build/src/main.js';
const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

function functionEnv(env: PlatformEnv, port: number): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH, KUBECONFIG: env.kubeconfig, JOBS_NAMESPACE: env.namespaces.jobs, SYSTEM_NAMESPACE: env.namespaces.system,
    PROVIDER_URL: `http://127.0.0.1:${port}`, PROVIDER_KEY: env.keys.provider, RPC_URL: env.rpcUrl, CHAIN_ID: String(env.chainId),
    S3_ENDPOINT: env.s3.endpoint, S3_ACCESS_KEY: env.s3.accessKey, S3_SECRET_KEY: env.s3.secretKey, S3_BUCKET: env.s3.bucket,
    ERC721_FACTORY_ADDRESS: env.ocean.ERC721Factory, NODE_ENV: 'production',
  };
}

async function coldStart(env: PlatformEnv, name: FunctionName): Promise<{ ms: number; rssMiB: number; status: number }> {
  const port = await freePort();
  const endpoint = endpointOf(name);
  const t0 = performance.now();
  const child = spawn(process.execPath, [FF_MAIN, `--source=dist/functions/${name}/index.js`, `--target=${name}`, `--port=${port}`], {
    env: functionEnv(env, port), stdio: 'ignore',
  });
  try {
    let status = 0;
    await waitFor(`${name} to answer`, async () => {
      const res = await fetch(`http://127.0.0.1:${port}${endpoint.path}`, { method: endpoint.method });
      status = res.status;
      await res.body?.cancel();
      return true;
    }, 30_000, 5);
    const ms = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 1000));
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1]);
    return { ms, rssMiB: rssKb / 1024, status };
  } finally {
    child.kill('SIGKILL');
  }
}

async function seedJobs(env: PlatformEnv, owners: string[], count: number): Promise<{ owner: string; jobId: string }[]> {
  const core = loadKubeConfig(env.kubeconfig).makeApiClient(CoreV1Api);
  const jobs: { owner: string; jobId: string }[] = [];
  const now = new Date();
  for (let i = 0; i < count; i += 50) {
    await Promise.all(Array.from({ length: Math.min(50, count - i) }, async (_, k) => {
      const owner = owners[(i + k) % owners.length]!;
      const jobId = newJobId();
      const did = `did:op:${'a'.repeat(63)}${(i + k) % 10}`;
      const tx = `0x${(i + k).toString(16).padStart(64, '0')}`;
      const workflow: Workflow = {
        version: 1, jobId, owner, environment: 'local-default', agreementId: tx, dateCreated: now.toISOString(),
        datasets: [{ did, serviceId: 'compute', transferTxId: tx, files: [{ index: 0 }] }],
        algorithm: { kind: 'published', did, serviceId: 'access', transferTxId: tx, container: { image: 'node', tag: '20', entrypoint: 'node $ALGO' }, files: [{ index: 0 }] },
        allowNetworkAccess: false, limits: { maxDurationSeconds: 60, cpu: 1, memoryMiB: 256, diskMiB: 256 },
      };
      const status = { ...initialStatus(now), code: 70 as const, text: 'Job finished', dateFinished: now.toISOString() };
      await core.createNamespacedConfigMap({ namespace: env.namespaces.jobs, body: buildJobConfigMap(workflow, status, env.namespaces.jobs) });
      jobs.push({ owner, jobId });
    }));
  }
  return jobs;
}

async function statusUnderLoad(env: PlatformEnv, jobs: { owner: string; jobId: string }[], concurrency: number, total: number): Promise<{ p50: number; p99: number; rps: number; errors: number }> {
  const port = await freePort();
  const child = spawn(process.execPath, [FF_MAIN, '--source=dist/functions/status/index.js', '--target=status', `--port=${port}`], { env: functionEnv(env, port), stdio: 'ignore' });
  try {
    const url = (j: { owner: string; jobId: string }): string => `http://127.0.0.1:${port}/api/services/compute?consumerAddress=${j.owner}&jobId=${j.jobId}`;
    await waitFor('status function', async () => (await fetch(url(jobs[0]!))).ok, 30_000, 20);
    for (let i = 0; i < 50; i++) await (await fetch(url(jobs[i % jobs.length]!))).text();
    const latencies: number[] = [];
    let errors = 0;
    let next = 0;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const job = jobs[next++ % jobs.length]!;
        const s = performance.now();
        const res = await fetch(url(job));
        const body = await res.text();
        latencies.push(performance.now() - s);
        if (!res.ok || !body.includes(job.jobId)) errors++;
      }
    }));
    const elapsed = (performance.now() - t0) / 1000;
    latencies.sort((a, b) => a - b);
    return { p50: pct(latencies, 50), p99: pct(latencies, 99), rps: total / elapsed, errors };
  } finally {
    child.kill('SIGKILL');
  }
}

const stateDir = mkdtempSync(join(tmpdir(), 'c2d-bench-fn-'));
const platform = await startPlatform(stateDir);
try {
  console.log('compiling functions to dist/ (as the container image does)');
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  const env = platform.env;
  await writeLocalConfig(loadKubeConfig(env.kubeconfig), env, localEnvironment(env));

  console.log('\nfunction        cold start (ms)   idle RSS (MiB)   first answer');
  const deployable = new Set(readdirSync('functions', { withFileTypes: true }).filter((d) => d.isDirectory() && readdirSync(join('functions', d.name)).includes('index.ts')).map((d) => d.name));
  for (const name of FUNCTION_NAMES.filter((n) => deployable.has(n))) {
    const r = await coldStart(env, name);
    console.log(`${name.padEnd(15)} ${r.ms.toFixed(0).padStart(15)}   ${r.rssMiB.toFixed(1).padStart(14)}   HTTP ${r.status}`);
  }

  const owners = Array.from({ length: 10 }, () => Wallet.createRandom().address.toLowerCase());
  const t0 = performance.now();
  const jobs = await seedJobs(env, owners, 1000);
  console.log(`\nseeded ${jobs.length} job ConfigMaps in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const load = await statusUnderLoad(env, jobs, 200, 4000);
  console.log(`status, 200 concurrent, 4000 requests, 1000 jobs: p50 ${load.p50.toFixed(1)} ms, p99 ${load.p99.toFixed(1)} ms, ${load.rps.toFixed(0)} req/s, ${load.errors} errors`);
} finally {
  await platform.stop();
  rmSync(stateDir, { recursive: true, force: true });
}
