/**
 * Reliability benchmark (issue 15), on a platform of its own with two engine replicas and the Deployment's lease
 * settings (15 s lease, renew deadline 10 s):
 *  1. hand-over: from the signal to the leader until a replica reports `c2d_engine_leader 1`, for SIGTERM of the
 *     leader replaced by a new pod (a rolling update), SIGKILL with the same identity (its container restarted) and
 *     SIGKILL replaced by a new identity (a pod lost), each three times;
 *  2. per-job overhead: a batch of jobs with a 2 s algorithm, once undisturbed and once with the leader killed
 *     (SIGKILL, new identity) and the API server restarted mid-batch. Per job: created → final status (the queue
 *     included), and the overhead: started (left the queue) → final minus the algorithm's own 2 s, i.e. configure,
 *     publish, every pod start and engine reaction, and what the faults cost.
 * C2D_KEEP_STATE=1 keeps the logs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { startLocalStack, type LocalStack } from '../../devcluster/local-stack.ts';
import { startPlatform } from '../../devcluster/platform.ts';
import { waitFor } from '../../devcluster/processes.ts';
import { LABELS } from '../../lib/job/names.ts';
import { loadKubeConfig } from '../../lib/kube/client.ts';
import { FileServer, createJob, waitForFinal } from '../support/engine-jobs.ts';
import { buildJob, sha256, shellAlgorithm } from '../support/job-fixtures.ts';

const REPEATS = 3;
const BATCH = 8;
const ALGORITHM_SECONDS = 2;
const DATASET = 'a,b\n1,2\n';

const pct = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
};
const seconds = (ms: number): string => (ms / 1000).toFixed(2);

const t0 = performance.now();
const stateDir = mkdtempSync(join(tmpdir(), 'c2d-bench-reliability-'));
console.log('reliability bench: starting a platform');
const platform = await startPlatform(stateDir);
const env = platform.env;
const ns = env.namespaces.jobs;
const core = loadKubeConfig(env.kubeconfig).makeApiClient(CoreV1Api);
const files = await new FileServer().start();
files.file('/data.csv', DATASET);
let stack: LocalStack | undefined;

async function leaderIndex(s: LocalStack): Promise<number> {
  const states = await Promise.all(
    s.engineMetricsUrls.map(async (url) => {
      try {
        const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(1000) })).text();
        return /^c2d_engine_leader 1$/m.test(text);
      } catch {
        return false;
      }
    }),
  );
  return states.indexOf(true);
}

async function waitForLeader(s: LocalStack): Promise<number> {
  let index = -1;
  await waitFor('a replica to lead', async () => (index = await leaderIndex(s)) >= 0, 60_000, 20);
  return index;
}

/** Signal to the leader → some replica leads (the old one's address counts only once its replacement runs). */
async function handOver(s: LocalStack, signal: NodeJS.Signals, identity: 'same' | 'new'): Promise<number> {
  const old = await waitForLeader(s);
  const at = performance.now();
  let replaced = false;
  const replacing = s.replaceEngine(old, { signal, identity }).then(() => void (replaced = true));
  let took = NaN;
  await waitFor(
    `a new leader after ${signal}`,
    async () => {
      const now = await leaderIndex(s);
      if (now < 0 || (now === old && !replaced)) return false;
      took = performance.now() - at;
      return true;
    },
    60_000,
    10,
  );
  await replacing;
  return took;
}

/** Runs a batch; `faults` is called once the batch is under way. */
async function batch(s: LocalStack, faults?: () => Promise<void>) {
  const jobs = Array.from({ length: BATCH }, () =>
    buildJob({
      environment: s.environmentId,
      datasets: [{ files: [{ url: files.url('/data.csv'), checksum: sha256(DATASET) }] }],
      algorithm: shellAlgorithm(`sleep ${ALGORITHM_SECONDS}; echo ok > "$OUTPUTS/out.txt"`),
    }),
  );
  for (const job of jobs) await createJob(core, ns, job);
  const faulted = faults?.();
  const finals = await Promise.all(jobs.map((j) => waitForFinal(core, ns, j.workflow.jobId, 300_000)));
  await faulted;
  const total = finals.map((f) => Date.parse(f.status.dateFinished!) - Date.parse(f.workflow.dateCreated));
  const overhead = finals.map(
    (f) => Date.parse(f.status.dateFinished!) - Date.parse(f.status.dateStarted!) - ALGORITHM_SECONDS * 1000,
  );
  const retried = finals.filter((f) => Object.values(f.status.stages).some((st) => (st?.attempts ?? 1) > 1)).length;
  const codes = [...new Set(finals.map((f) => f.status.code))].join(', ');
  return { total, overhead, retried, codes };
}

try {
  stack = await startLocalStack(env, {
    engineReplicas: 2,
    restartEngines: true,
    environment: { maxConcurrentJobs: 4 },
  });
  console.log(`\nhand-over (signal to the leader → a replica leads), ${REPEATS} times each, ms`);
  for (const [signal, identity, label] of [
    ['SIGTERM', 'new', 'SIGTERM, replaced by a new pod'],
    ['SIGKILL', 'same', 'SIGKILL, restarted with the same identity'],
    ['SIGKILL', 'new', 'SIGKILL, replaced by a new identity'],
  ] as const) {
    const times: number[] = [];
    for (let i = 0; i < REPEATS; i++) times.push(await handOver(stack, signal, identity));
    console.log(`  ${label.padEnd(44)} ${times.map((t) => Math.round(t)).join(', ')}`);
  }

  const s = stack;
  console.log(`\nper-job times, ${BATCH} jobs (2 s algorithm), 4 at a time, s: p50 / p90 / max`);
  const report = (label: string, r: Awaited<ReturnType<typeof batch>>): void =>
    console.log(
      `  ${label.padEnd(30)} created → final ${seconds(pct(r.total, 50))} / ${seconds(pct(r.total, 90))} / ${seconds(Math.max(...r.total))}` +
        `; overhead ${seconds(pct(r.overhead, 50))} / ${seconds(pct(r.overhead, 90))} / ${seconds(Math.max(...r.overhead))}` +
        `; final codes ${r.codes}; jobs with a stage retried ${r.retried}`,
    );
  report('no faults', await batch(s));
  report(
    'leader SIGKILL + API restart',
    await batch(s, async () => {
      await new Promise((r) => setTimeout(r, 2000));
      await s.replaceEngine(await waitForLeader(s), { signal: 'SIGKILL', identity: 'new' });
      await waitFor(
        'an algorithm to run',
        async () =>
          (await core.listNamespacedPod({ namespace: ns, labelSelector: `${LABELS.role}=algorithm` })).items.some(
            (p) => p.status?.phase === 'Running',
          ),
        120_000,
        100,
      );
      await platform.restart('kube-apiserver', { downMs: 2000 });
    }),
  );
  console.log(`\nreliability bench done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
} finally {
  await stack?.stop();
  await files.close();
  await platform.stop();
  if (process.env.C2D_KEEP_STATE) console.log(`state and logs kept in ${stateDir}`);
  else rmSync(stateDir, { recursive: true, force: true });
}
