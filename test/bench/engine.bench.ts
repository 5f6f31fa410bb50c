/**
 * Engine benchmark, on a platform of its own (started here, stopped at the end), with trivial algorithms:
 *  1. reaction latency, from watch-event arrival times: job ConfigMap created → configure pod created, and a stage
 *     pod finished → the next pod created (publish finished → final status recorded) over 30 jobs, 3 at a time
 *     (`start` creates the Secret right after the ConfigMap, and the engine starts a job once both are there);
 *  2. engine RSS and CPU with 5,500 more jobs tracked at once (5,000 queued behind a running job, 500 finished), while
 *     taking them in, idle, on a full resync (environments change) and after a restart;
 *  3. the running job stopped, so its slot frees with 5,000 jobs queued: how many reconciles, how much CPU and how
 *     long until the oldest queued job gets its configure pod (a freed slot used to wake every queued job, and each
 *     then looked at every job: O(N²)).
 * The engine runs compiled, as in its image (under tsx its RSS is ~90 MiB higher). C2D_KEEP_STATE=1 keeps the logs.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api } from '@kubernetes/client-node';
import { localEnvironment, startLocalStack, writeLocalConfig, type LocalStack } from '../../devcluster/local-stack.ts';
import { startPlatform } from '../../devcluster/platform.ts';
import { waitFor } from '../../devcluster/processes.ts';
import { buildJobConfigMap, stopRequestPatch } from '../../lib/job/configmap.ts';
import { jobNames } from '../../lib/job/names.ts';
import { PatchStrategy, setHeaderOptions } from '../../lib/kube/api.ts';
import { StatusCode, initialStatus, isFinal, statusText, type JobStatus } from '../../lib/job/status.ts';
import { loadKubeConfig } from '../../lib/kube/client.ts';
import {
  FileServer,
  JobObjectWatch,
  createJob,
  waitForFinal,
  waitForJob,
  type ObjectEvent,
} from '../support/engine-jobs.ts';
import { buildJob, sha256, shellAlgorithm } from '../support/job-fixtures.ts';

const LATENCY_JOBS = 30;
/** Run first and left out of the latency figures: the engine's first jobs pay for JIT warm-up. */
const WARMUP_JOBS = 3;
const LATENCY_PARALLEL = 3;
const TRACKED = { queued: Number(process.env.C2D_BENCH_QUEUED ?? 5000), finished: 500 };
const IDLE_WINDOW_MS = 15_000;
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

const pct = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
};

interface ProcSample {
  rssMiB: number;
  hwmMiB: number;
  cpuSeconds: number;
  at: number;
}

function sampleProcess(pid: number): ProcSample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { rssMiB: kb('VmRSS') / 1024, hwmMiB: kb('VmHWM') / 1024, cpuSeconds: ticks / CLK_TCK, at: performance.now() };
}

async function engineMetrics(stack: LocalStack): Promise<{ jobs: number; reconciles: number }> {
  const text = await (await fetch(`${stack.engineMetricsUrl}/metrics`)).text();
  let jobs = 0;
  for (const m of text.matchAll(/^c2d_engine_jobs\{status="\d+"\} (\d+)$/gm)) jobs += Number(m[1]);
  const reconciles = Number(/^c2d_engine_reconcile_duration_seconds_count (\d+)$/m.exec(text)?.[1] ?? 0);
  return { jobs, reconciles };
}

/** Waits until the engine knows `jobs` jobs and has not reconciled anything for `quietMs`. */
async function settle(stack: LocalStack, jobs: number, quietMs = 2000, boundMs = 1_800_000): Promise<void> {
  let last = -1;
  let since = performance.now();
  await waitFor(
    `the engine to track ${jobs} jobs and go quiet`,
    async () => {
      const m = await engineMetrics(stack);
      if (m.reconciles !== last || m.jobs < jobs) {
        last = m.reconciles;
        since = performance.now();
        return false;
      }
      return performance.now() - since >= quietMs;
    },
    boundMs,
    200,
  );
}

/** A figure as soon as it is measured, so that a run cut short still shows what it got. */
const progress = (line: string): void => console.log(`  measured: ${line}`);

const enginePid = (stack: LocalStack): number => stack.processes.find((p) => p.name === 'engine')!.child.pid!;

async function pool<T>(items: T[], parallel: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

const row = (cells: Array<string | number>, widths: number[]): string =>
  cells
    .map((c, i) => (typeof c === 'number' ? c.toFixed(1) : c)[i === 0 ? 'padEnd' : 'padStart'](widths[i]!))
    .join('  ');

/** Compiles the engine as its image does (tsconfig.build.json) into a cache folder; returns the entry to run. */
function compileEngine(): string {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  // Under node_modules so the compiled modules resolve the project's packages, and never into the shared dist/.
  const out = join(root, 'node_modules', '.cache', 'c2d-bench-engine');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const config = join(out, 'tsconfig.json');
  writeFileSync(
    config,
    JSON.stringify({
      extends: join(root, 'tsconfig.build.json'),
      compilerOptions: { outDir: join(out, 'dist'), rootDir: root, sourceMap: false },
      include: [join(root, 'engine')],
    }),
  );
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', config], { stdio: 'inherit' });
  return join(out, 'dist', 'engine', 'main.js');
}

const t0 = performance.now();
console.log('engine bench: compiling the engine as its image does');
const engineEntry = compileEngine();
const stateDir = mkdtempSync(join(tmpdir(), 'c2d-bench-engine-'));
console.log('engine bench: starting a platform');
const platform = await startPlatform(stateDir);
const env = platform.env;
const ns = env.namespaces.jobs;
const kc = loadKubeConfig(env.kubeconfig);
const core = kc.makeApiClient(CoreV1Api);
const files = await new FileServer().start();
const podWatch = new JobObjectWatch(kc, ns, 'pods');
const cmWatch = new JobObjectWatch(kc, ns, 'configmaps');
const secretWatch = new JobObjectWatch(kc, ns, 'secrets');
let stack: LocalStack | undefined;
try {
  await Promise.all([podWatch.start(), cmWatch.start(), secretWatch.start()]);
  stack = await startLocalStack(env, { engine: true, engineEntry, logDir: join(stateDir, 'logs') });
  const data = 'x,y\n1,2\n';
  const dataUrl = files.file('/data.csv', data);

  // ---- 1. latency ----
  console.log(`latency: ${LATENCY_JOBS} jobs (after ${WARMUP_JOBS} warm-up jobs), ${LATENCY_PARALLEL} at a time`);
  const ids: string[] = [];
  await pool(
    Array.from({ length: WARMUP_JOBS + LATENCY_JOBS }, (_, i) => i),
    LATENCY_PARALLEL,
    async (i) => {
      const job = buildJob({
        environment: stack!.environmentId,
        datasets: [{ files: [{ url: dataUrl, checksum: sha256(data) }] }],
        algorithm: shellAlgorithm(`echo ${i} > "$OUTPUTS/out.txt"`),
      });
      if (i >= WARMUP_JOBS) ids.push(job.workflow.jobId);
      await createJob(core, ns, job);
      const done = await waitForFinal(core, ns, job.workflow.jobId, 120_000);
      if (done.status.code !== StatusCode.JobFinished)
        throw new Error(`job ${job.workflow.jobId} ended with ${done.status.code}`);
    },
  );
  const first = (events: ObjectEvent[], pred: (e: ObjectEvent) => boolean): number | undefined => events.find(pred)?.t;
  const finished = (e: ObjectEvent): boolean => e.phase === 'Succeeded' || e.phase === 'Failed';
  const gaps: Record<string, number[]> = {
    'ConfigMap created → configure pod created': [],
    '  of which: Secret created → configure pod created': [],
    'configure finished → algorithm pod created': [],
    'algorithm finished → publish pod created': [],
    'publish finished → final status recorded': [],
  };
  const add = (key: string, from: number | undefined, to: number | undefined): void => {
    if (from === undefined || to === undefined) throw new Error(`missing watch event for "${key}"`);
    gaps[key]!.push(to - from);
  };
  for (const id of ids) {
    const pods = podWatch.forJobs([id]);
    const cms = cmWatch.forJobs([id]);
    const ofRole = (role: string): ObjectEvent[] => pods.filter((e) => e.role === role);
    add(
      'ConfigMap created → configure pod created',
      first(cms, (e) => e.type === 'ADDED'),
      first(ofRole('configure'), (e) => e.type === 'ADDED'),
    );
    add(
      '  of which: Secret created → configure pod created',
      first(secretWatch.forJobs([id]), (e) => e.type === 'ADDED'),
      first(ofRole('configure'), (e) => e.type === 'ADDED'),
    );
    add(
      'configure finished → algorithm pod created',
      first(ofRole('configure'), finished),
      first(ofRole('algorithm'), (e) => e.type === 'ADDED'),
    );
    add(
      'algorithm finished → publish pod created',
      first(ofRole('algorithm'), finished),
      first(ofRole('publish'), (e) => e.type === 'ADDED'),
    );
    add(
      'publish finished → final status recorded',
      first(ofRole('publish'), finished),
      first(cms, (e) => e.statusCode !== undefined && isFinal(e.statusCode as StatusCode)),
    );
  }

  // ---- 2. 1,000 jobs tracked ----
  console.log(
    `tracking: a running job holds the only slot; adding ${TRACKED.queued} queued and ${TRACKED.finished} finished jobs`,
  );
  await writeLocalConfig(kc, env, localEnvironment(env, { maxConcurrentJobs: 1 }));
  const blocker = buildJob({
    environment: stack.environmentId,
    datasets: [{ files: [{ url: dataUrl }] }],
    algorithm: shellAlgorithm('sleep 1800'),
    maxDurationSeconds: 3600,
  });
  await createJob(core, ns, blocker);
  await waitForJob(core, ns, blocker.workflow.jobId, (j) => j.status.code === StatusCode.RunningAlgorithm, 120_000);
  const baseJobs = WARMUP_JOBS + LATENCY_JOBS + 1;
  await settle(stack, baseJobs);
  const before = sampleProcess(enginePid(stack));

  const now = new Date();
  const finalStatus: JobStatus = {
    ...initialStatus(now),
    code: StatusCode.JobFinished,
    text: statusText(StatusCode.JobFinished),
    dateStarted: now.toISOString(),
    dateFinished: now.toISOString(),
    expiresAt: new Date(now.getTime() + 3600_000).toISOString(),
    termination: { reason: 'finished' },
  };
  const kinds = [
    ...Array<'queued'>(TRACKED.queued).fill('queued'),
    ...Array<'finished'>(TRACKED.finished).fill('finished'),
  ];
  const ingestStart = performance.now();
  const queuedIds: string[] = [];
  await pool(kinds, 25, async (kind) => {
    const job = buildJob({
      environment: stack!.environmentId,
      datasets: [{ files: [{ url: dataUrl }] }],
      algorithm: shellAlgorithm('true'),
    });
    if (kind === 'queued') queuedIds.push(job.workflow.jobId);
    if (kind === 'queued') await createJob(core, ns, job);
    else
      await core.createNamespacedConfigMap({ namespace: ns, body: buildJobConfigMap(job.workflow, finalStatus, ns) });
  });
  const created = performance.now();
  await settle(stack, baseJobs + kinds.length);
  const ingested = sampleProcess(enginePid(stack));
  progress(
    `taken in: CPU ${(ingested.cpuSeconds - before.cpuSeconds).toFixed(1)} s, wall ${((ingested.at - ingestStart) / 1000).toFixed(1)} s`,
  );
  await new Promise((r) => setTimeout(r, IDLE_WINDOW_MS));
  const idle = sampleProcess(enginePid(stack));
  const reconcilesBefore = (await engineMetrics(stack)).reconciles;

  // An environments change makes the engine look at every job again.
  const resyncStart = performance.now();
  await writeLocalConfig(kc, env, localEnvironment(env, { maxConcurrentJobs: 1, description: 'resync' }));
  // Before the job index this took 109 s of CPU: tens of minutes of wall time on a 2-core machine others are using.
  await waitFor(
    'the engine to reconcile every job once after the environments changed',
    async () => (await engineMetrics(stack!)).reconciles >= reconcilesBefore + baseJobs + kinds.length,
    1_800_000,
    100,
  );
  await settle(stack, baseJobs + kinds.length, 1000);
  const resynced = sampleProcess(enginePid(stack));
  const resyncMs = performance.now() - resyncStart - 1000;
  const resyncReconciles = (await engineMetrics(stack)).reconciles - reconcilesBefore;
  progress(
    `full resync: ${resyncReconciles} reconciles, CPU ${(resynced.cpuSeconds - idle.cpuSeconds).toFixed(1)} s, wall ${(resyncMs / 1000).toFixed(1)} s`,
  );

  await stack.stop();
  const restartStart = performance.now();
  stack = await startLocalStack(env, {
    engine: true,
    engineEntry,
    logDir: join(stateDir, 'logs'),
    environment: { maxConcurrentJobs: 1, description: 'resync' },
  });
  const restartPid = enginePid(stack);
  await settle(stack, baseJobs + kinds.length, 1000);
  const restartMs = performance.now() - restartStart - 1000;
  const restartReconciles = (await engineMetrics(stack)).reconciles;
  progress(`restart: ${restartReconciles} reconciles, wall ${(restartMs / 1000).toFixed(1)} s`);
  await new Promise((r) => setTimeout(r, 5000));
  const restarted = sampleProcess(restartPid);
  const stillQueued = (
    await core.listNamespacedConfigMap({ namespace: ns, labelSelector: 'c2d.oceanprotocol.com/role=workflow' })
  ).items.filter((cm) => JSON.parse(cm.data?.['status.json'] ?? '{}').code === StatusCode.WarmingUp).length;

  // ---- 3. a slot frees with every queued job waiting ----
  console.log(`slot freed: stopping the running job with ${stillQueued} jobs queued behind it`);
  const beforeFree = { ...(await engineMetrics(stack)), cpu: sampleProcess(enginePid(stack)).cpuSeconds };
  const stopAt = performance.now();
  await core.patchNamespacedConfigMap(
    { name: jobNames(blocker.workflow.jobId).configMap, namespace: ns, body: stopRequestPatch(new Date()) },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
  await waitForJob(core, ns, blocker.workflow.jobId, (j) => isFinal(j.status.code), 120_000);
  const blockerFinal = first(
    cmWatch.forJobs([blocker.workflow.jobId]),
    (e) => e.statusCode !== undefined && isFinal(e.statusCode as StatusCode),
  );
  let nextConfigure: number | undefined;
  await waitFor(
    'the oldest queued job to get its configure pod',
    async () => {
      nextConfigure = podWatch.forJobs(queuedIds).find((e) => e.role === 'configure' && e.type === 'ADDED')?.t;
      return nextConfigure !== undefined;
    },
    120_000,
    20,
  );
  await new Promise((r) => setTimeout(r, 3000));
  const afterFree = { ...(await engineMetrics(stack)), cpu: sampleProcess(enginePid(stack)).cpuSeconds };

  // ---- report ----
  console.log('\nengine reaction latency (watch event arrival → watch event arrival), ms');
  const w = [52, 4, 8, 8, 8, 8];
  console.log(row(['', 'n', 'p50', 'p90', 'p99', 'max'], w));
  for (const [name, values] of Object.entries(gaps)) {
    const max = Math.max(...values);
    console.log(
      `${row([name, String(values.length), pct(values, 50), pct(values, 90), pct(values, 99), max], w)}  (max at job #${WARMUP_JOBS + values.indexOf(max) + 1})`,
    );
  }

  const total = baseJobs + kinds.length;
  console.log(
    `\nengine process (node ${engineEntry.slice(engineEntry.indexOf('dist/'))}, compiled) with ${total} jobs tracked (${TRACKED.queued} queued behind 1 running, ${TRACKED.finished + WARMUP_JOBS + LATENCY_JOBS} finished)`,
  );
  const v = [54, 8, 8, 8];
  console.log(row(['', 'RSS MiB', 'CPU s', 'wall s'], v));
  console.log(row([`before: ${baseJobs} jobs, idle`, before.rssMiB, before.cpuSeconds, '–'], v));
  console.log(
    row(
      [
        `taking in ${kinds.length} jobs (created in ${((created - ingestStart) / 1000).toFixed(1)} s)`,
        ingested.rssMiB,
        ingested.cpuSeconds - before.cpuSeconds,
        (ingested.at - ingestStart) / 1000,
      ],
      v,
    ),
  );
  console.log(
    row(
      [
        `idle ${IDLE_WINDOW_MS / 1000} s with ${total} jobs (CPU ${((100 * (idle.cpuSeconds - ingested.cpuSeconds)) / ((idle.at - ingested.at) / 1000)).toFixed(2)}%)`,
        idle.rssMiB,
        idle.cpuSeconds - ingested.cpuSeconds,
        (idle.at - ingested.at) / 1000,
      ],
      v,
    ),
  );
  console.log(
    row(
      [
        `full resync of ${total} jobs (environments changed)`,
        resynced.rssMiB,
        resynced.cpuSeconds - idle.cpuSeconds,
        resyncMs / 1000,
      ],
      v,
    ),
  );
  console.log(
    row(
      [
        `restart: list + reconcile ${total} jobs, then 5 s idle`,
        restarted.rssMiB,
        restarted.cpuSeconds,
        restartMs / 1000,
      ],
      v,
    ),
  );
  console.log(`reconciles: full resync ${resyncReconciles}, restart ${restartReconciles}`);
  console.log(
    `peak RSS (VmHWM): first engine ${resynced.hwmMiB.toFixed(1)} MiB, restarted engine ${restarted.hwmMiB.toFixed(1)} MiB`,
  );
  console.log(
    `queued jobs still queued at the end: ${stillQueued} of ${TRACKED.queued} (the running job holds the only slot)`,
  );
  console.log(
    `\nslot freed with ${stillQueued} queued: stop → final status ${((blockerFinal ?? NaN) - stopAt).toFixed(0)} ms; final status → next job's configure pod ${((nextConfigure ?? NaN) - (blockerFinal ?? NaN)).toFixed(0)} ms; reconciles in the 3 s after: ${afterFree.reconciles - beforeFree.reconciles}; engine CPU ${(afterFree.cpu - beforeFree.cpu).toFixed(2)} s`,
  );
  console.log(`\nengine bench done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
} finally {
  podWatch.stop();
  cmWatch.stop();
  secretWatch.stop();
  await stack?.stop();
  await files.close();
  await platform.stop();
  if (process.env.C2D_KEEP_STATE) console.log(`state and logs kept in ${stateDir}`);
  else rmSync(stateDir, { recursive: true, force: true });
}
