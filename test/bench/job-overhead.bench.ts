/**
 * A job's end-to-end overhead: N jobs one after the other, each with a tiny algorithm (node:24 writing one output) and
 * a one-line dataset. Per job: the workflow ConfigMap's creation (what `start` does after its checks, timed from just
 * before the create call) → the client seeing status 70 (a watch on the job ConfigMaps), minus the algorithm's own run
 * time: its container's startedAt → finishedAt as the node reports it, which the API server keeps to the second, and,
 * to the millisecond, the algorithm's node process from its start (`performance.timeOrigin`) to its last line, which it
 * logs. What is left is the engine's reactions, the configure and publish pods and every pod start.
 *
 * The README (Benchmarks) compares it with the bwrap node's figures, taken before that node was removed.
 * C2D_BENCH_JOBS sets the count (default 8); C2D_KEEP_STATE=1 keeps the logs.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, KubernetesObjectApi, loadAllYaml, type KubernetesObject } from '@kubernetes/client-node';
import { startLocalStack, type LocalStack } from '../../devcluster/local-stack.ts';
import { startPlatform, type Platform } from '../../devcluster/platform.ts';
import { startProcess, waitFor, type ManagedProcess } from '../../devcluster/processes.ts';
import { jobNames } from '../../lib/job/names.ts';
import { StatusCode, isFinal } from '../../lib/job/status.ts';
import { loadKubeConfig } from '../../lib/kube/client.ts';
import { JobObjectWatch, createJob, readJob } from '../support/engine-jobs.ts';
import { buildJob, nodeAlgorithm, sha256 } from '../support/job-fixtures.ts';

const JOBS = Number(process.env.C2D_BENCH_JOBS ?? 8);
if (!Number.isInteger(JOBS) || JOBS < 1) throw new Error(`C2D_BENCH_JOBS must be a whole number ≥ 1, not ${JOBS}`);
const DATASET = 'a,b\n1,2\n';
const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '../..');

const pct = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
};
const s = (ms: number): string => (ms / 1000).toFixed(2);
const span = (from?: string | Date, to?: string | Date): number =>
  from && to ? new Date(to).getTime() - new Date(from).getTime() : NaN;

/**
 * Where the configure pods download the dataset from: a public address in the node's namespace, port 80, which is
 * what the configure pods' NetworkPolicy lets them reach.
 */
async function serveDataset(platform: Platform, stateDir: string): Promise<{ url: string; stop(): Promise<void> }> {
  const address = '203.0.113.30';
  const node = platform.realNode.namespace;
  const dir = join(stateDir, 'public-files');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'data.csv'), DATASET);
  await node.exec(['ip', 'addr', 'add', `${address}/32`, 'dev', 'lo']);
  const [cmd, ...args] = node.enter(['python3', '-m', 'http.server', '--bind', address, '--directory', dir, '80']);
  const server: ManagedProcess = startProcess('public-file-server', cmd!, args, {
    logFile: join(stateDir, 'logs', 'public-file-server.log'),
  });
  await waitFor(
    `the file server on ${address}:80`,
    async () => {
      await node.exec(['bash', '-c', `exec 3<>/dev/tcp/${address}/80`], 2_000);
      return true;
    },
    30_000,
    100,
  );
  return { url: `http://${address}/data.csv`, stop: () => server.stop() };
}

/** The jobs namespace's NetworkPolicies, as deployed (an algorithm pod waits for them before it starts). */
async function applyJobPolicies(platform: Platform): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(loadKubeConfig(platform.env.kubeconfig));
  const docs = loadAllYaml(readFileSync(join(projectRoot, 'manifests/network-policies.yaml'), 'utf8'));
  for (const doc of docs as KubernetesObject[]) {
    if (doc.metadata?.namespace !== platform.env.namespaces.jobs) continue;
    await api.create(doc).catch((err: { code?: number }) => {
      if (err.code !== 409) throw err;
    });
  }
}

const stateDir = mkdtempSync(join(tmpdir(), 'c2d-bench-overhead-'));
console.log('job overhead bench: starting a platform');
const began = performance.now();
const platform = await startPlatform(stateDir, (m) => console.log(`  [platform] ${m}`));
console.log(`platform up in ${s(performance.now() - began)} s`);
const env = platform.env;
const ns = env.namespaces.jobs;
const kc = loadKubeConfig(env.kubeconfig);
const core = kc.makeApiClient(CoreV1Api);
let stack: LocalStack | undefined;
let dataset: Awaited<ReturnType<typeof serveDataset>> | undefined;
const watch = new JobObjectWatch(kc, ns, 'configmaps');

try {
  dataset = await serveDataset(platform, stateDir);
  await applyJobPolicies(platform);
  stack = await startLocalStack(env, { engine: true });
  await watch.start();
  const rows: Array<{
    total: number;
    container: number;
    algorithm: number;
    stages: number[];
  }> = [];
  for (let i = 0; i < JOBS; i++) {
    const job = buildJob({
      environment: stack.environmentId,
      datasets: [{ files: [{ url: dataset.url, checksum: sha256(DATASET) }] }],
      algorithm: nodeAlgorithm(
        `require('fs').writeFileSync(process.env.OUTPUTS + '/out.txt', 'ok');` +
          `console.log('ran ' + JSON.stringify([performance.timeOrigin, Date.now()]));`,
      ),
    });
    const jobId = job.workflow.jobId;
    const finished = new Promise<number>((resolve) => {
      const off = watch.onEvent((e) => {
        if (e.jobId !== jobId || e.statusCode === undefined || !isFinal(e.statusCode as StatusCode)) return;
        off();
        resolve(e.t);
      });
    });
    const t0 = performance.now();
    await createJob(core, ns, job);
    let timer: NodeJS.Timeout | undefined;
    const t70 = await Promise.race([
      finished,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`job ${jobId} did not finish within 300 s`)), 300_000);
      }),
    ]).finally(() => clearTimeout(timer));
    const done = await readJob(core, ns, jobId);
    if (done.status.code !== StatusCode.JobFinished)
      throw new Error(`job ${jobId} ended ${done.status.code}: ${JSON.stringify(done.status)}`);
    const pod = await core.readNamespacedPod({ name: jobNames(jobId).pods.algorithm, namespace: ns });
    const ran = pod.status?.containerStatuses?.find((c) => c.name === 'algorithm')?.state?.terminated;
    const container = span(ran?.startedAt, ran?.finishedAt);
    const log = await core.readNamespacedPodLog({ name: pod.metadata!.name!, namespace: ns, container: 'algorithm' });
    const [from, to] = JSON.parse(/^ran (\[.*\])$/m.exec(log)?.[1] ?? '[NaN, NaN]') as [number, number];
    const algorithm = to - from;
    const total = t70 - t0;
    const st = done.status.stages;
    const stages = [st.configure, st.algorithm, st.publish].map((x) => span(x?.startedAt, x?.finishedAt));
    rows.push({ total, container, algorithm, stages });
    console.log(
      `  job ${i + 1}: created → 70 ${s(total)} s; algorithm container ${s(container)} s, its process ${s(algorithm)} s` +
        ` (stages as the engine recorded them: configure ${s(stages[0]!)}, algorithm ${s(stages[1]!)}, publish ${s(stages[2]!)} s)`,
    );
  }
  const col = (f: (r: (typeof rows)[number]) => number): string => {
    const v = rows.map(f);
    return `p50 ${s(pct(v, 50))} / max ${s(Math.max(...v))} s`;
  };
  console.log(`\n${JOBS} sequential jobs (workflow ConfigMap created → status 70 seen):`);
  console.log(`  created → 70          ${col((r) => r.total)}`);
  console.log(`  algorithm container   ${col((r) => r.container)} (to the second)`);
  console.log(`  overhead (container)  ${col((r) => r.total - r.container)}`);
  console.log(`  algorithm process     ${col((r) => r.algorithm)}`);
  console.log(`  overhead (process)    ${col((r) => r.total - r.algorithm)}`);
  console.log(`  stage configure       ${col((r) => r.stages[0]!)}`);
  console.log(`  stage algorithm       ${col((r) => r.stages[1]!)}`);
  console.log(`  stage publish         ${col((r) => r.stages[2]!)}`);
} finally {
  watch.stop();
  await stack?.stop();
  await dataset?.stop();
  await platform.stop();
  if (process.env.C2D_KEEP_STATE) console.log(`state and logs kept in ${stateDir}`);
  else rmSync(stateDir, { recursive: true, force: true });
}
