import { containerPid } from '../support/container-pid.ts';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../devcluster/local-stack.ts';
import { makeS3Client } from '../../lib/job/results-store.ts';
import { waitFor } from '../../devcluster/processes.ts';
import type { JobConfigMap } from '../../lib/job/configmap.ts';
import { jobNames, type Stage } from '../../lib/job/names.ts';
import { isFinal, StatusCode, type Result } from '../../lib/job/status.ts';
import { loadKubeConfig } from '../../lib/kube/client.ts';
import {
  FileServer,
  JobObjectWatch,
  createJob,
  maxActivePods,
  readJob,
  readObject,
  requestStop,
  waitForFinal,
} from '../support/engine-jobs.ts';
import {
  buildJob,
  nodeAlgorithm,
  sha256,
  shellAlgorithm,
  type BuiltJob,
  type JobSpec,
} from '../support/job-fixtures.ts';

const env = inject('platform');
const ns = env.namespaces.jobs;
let kc: KubeConfig;
let core: CoreV1Api;
let s3: S3Client;
let stack: LocalStack;
let files: FileServer;
let pods: JobObjectWatch;

const DATASET = 'alpha,beta\n1,2\n3,4\n';
const SECRET_TOKEN = `tok-${Math.random().toString(36).slice(2)}`;

beforeAll(async () => {
  kc = loadKubeConfig(env.kubeconfig);
  core = kc.makeApiClient(CoreV1Api);
  s3 = makeS3Client(env.s3);
  files = await new FileServer().start(env);
  files.file('/data.csv', DATASET);
  pods = new JobObjectWatch(kc, ns, 'pods');
  await pods.start();
  stack = await startLocalStack(env, { engine: true });
});

afterAll(async () => {
  pods?.stop();
  await stack?.stop();
  await files?.close();
  s3?.destroy();
});

function spec(overrides: Partial<JobSpec> & Pick<JobSpec, 'algorithm'>): JobSpec {
  return {
    environment: stack.environmentId,
    datasets: [{ files: [{ url: files.url('/data.csv'), checksum: sha256(DATASET) }] }],
    ...overrides,
  };
}

async function start(s: JobSpec): Promise<BuiltJob> {
  const job = buildJob(s);
  await createJob(core, ns, job);
  return job;
}

const codes = (job: JobConfigMap): number[] => job.status.history.map((h) => h.code);
const resultOf = (job: JobConfigMap, type: Result['type'], filename: string): Result | undefined =>
  job.status.results.find((r) => r.type === type && r.filename === filename);

async function stored(result: Result | undefined): Promise<string> {
  expect(result, 'result recorded').toBeDefined();
  return readObject(s3, env.s3.bucket, result!.key);
}

async function storedKeys(jobId: string): Promise<string[]> {
  const page = await s3.send(new ListObjectsV2Command({ Bucket: env.s3.bucket, Prefix: `${jobId}/` }));
  return (page.Contents ?? []).map((o) => o.Key!).sort();
}

async function podPhase(name: string): Promise<string | undefined> {
  try {
    return (await core.readNamespacedPod({ name, namespace: ns })).status?.phase;
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}

const waitForPodRunning = (name: string): Promise<void> =>
  waitFor(`${name} running`, async () => (await podPhase(name)) === 'Running', 60_000, 100);

/** The host pid of a pod's (first) container process. */
async function podContainerPid(name: string): Promise<number> {
  const pod = await core.readNamespacedPod({ name, namespace: ns });
  return containerPid(env, pod.status?.containerStatuses?.[0]?.containerID ?? '');
}

const processAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('engine', () => {
  it('runs a job to 70 with its outputs, logs and custom data in the object store', async () => {
    const url = files.file('/private/data.csv', DATASET);
    const algo = nodeAlgorithm(`
      const fs = require('fs'), crypto = require('crypto');
      const dids = JSON.parse(process.env.DIDS);
      const input = fs.readFileSync(process.env.INPUTS + '/' + dids[0] + '/0');
      const custom = JSON.parse(fs.readFileSync(process.env.INPUTS + '/algoCustomData.json', 'utf8'));
      const ddo = JSON.parse(fs.readFileSync('/data/ddos/' + dids[0], 'utf8'));
      fs.writeFileSync(process.env.OUTPUTS + '/result.json', JSON.stringify({
        dids, sha: crypto.createHash('sha256').update(input).digest('hex'), lines: input.toString().trim().split('\\n').length,
        custom, ddoId: ddo.id, transformation: process.env.TRANSFORMATION_DID, cwd: process.cwd(), uid: process.getuid(),
      }));
      fs.mkdirSync(process.env.OUTPUTS + '/sub/deeper', { recursive: true });
      fs.writeFileSync(process.env.OUTPUTS + '/sub/deeper/nested.txt', 'nested output');
      console.log('algorithm done');
    `);
    const job = await start(
      spec({
        algorithm: algo,
        datasets: [
          {
            files: [
              {
                url: `${url}?token=${SECRET_TOKEN}`,
                checksum: sha256(DATASET),
                contentLength: DATASET.length,
                headers: { authorization: `Bearer ${SECRET_TOKEN}` },
              },
            ],
          },
        ],
        algoCustomData: { threshold: 3, label: 'custom' },
      }),
    );
    const done = await waitForFinal(core, ns, job.workflow.jobId);

    expect(done.status.code).toBe(StatusCode.JobFinished);
    expect(done.status.termination).toEqual({ reason: 'finished' });
    expect(codes(done)).toEqual([1, 10, 20, 30, 40, 60, 70]);
    expect(done.status.stages.algorithm?.exitCode).toBe(0);
    expect(files.hitCount('/private/data.csv')).toBe(1);

    const out = JSON.parse(await stored(resultOf(done, 'output', 'result.json')));
    expect(out).toEqual({
      dids: [job.workflow.datasets[0]!.did],
      sha: sha256(DATASET),
      lines: 3,
      custom: { threshold: 3, label: 'custom' },
      ddoId: job.workflow.datasets[0]!.did,
      transformation: '',
      cwd: '/data/transformations',
      uid: 1000,
    });
    expect(await stored(resultOf(done, 'output', 'sub/deeper/nested.txt'))).toBe('nested output');
    expect(await stored(resultOf(done, 'algorithmLog', 'algorithm.log'))).toContain('algorithm done');
    const configureLog = await stored(resultOf(done, 'configurationLog', 'configure.log'));
    expect(configureLog).toContain(`${DATASET.length} bytes, sha256 ${sha256(DATASET)}`);
    expect(await stored(resultOf(done, 'publishLog', 'publish.log'))).toContain(
      'stored output "sub/deeper/nested.txt"',
    );
    expect(done.status.results.map((r) => r.index)).toEqual(done.status.results.map((_, i) => i));
    expect(await storedKeys(job.workflow.jobId)).toEqual(
      [...done.status.results.map((r) => r.key), `${job.workflow.jobId}/manifest.json`].sort(),
    );

    // What only the configure pod may read never reaches a log, and the Secret is gone once configure is over.
    for (const r of done.status.results.filter((x) => x.type !== 'output'))
      expect(await stored(r)).not.toContain(SECRET_TOKEN);
    for (const stage of ['configure', 'algorithm', 'publish'] as Stage[]) {
      expect(
        await core.readNamespacedPodLog({ name: jobNames(job.workflow.jobId).pods[stage], namespace: ns }),
      ).not.toContain(SECRET_TOKEN);
    }
    await expect(
      core.readNamespacedSecret({ name: jobNames(job.workflow.jobId).secret, namespace: ns }),
    ).rejects.toMatchObject({ code: 404 });
  });

  it('ends an algorithm that exits 1 with 41 and still publishes its outputs and logs', async () => {
    const job = await start(
      spec({
        algorithm: shellAlgorithm(
          'echo "partial" > "$OUTPUTS/partial.txt"; echo "about to fail"; echo "boom on stderr" >&2; exit 1',
        ),
      }),
    );
    const done = await waitForFinal(core, ns, job.workflow.jobId);

    expect(done.status.code).toBe(StatusCode.AlgorithmFailed);
    expect(done.status.termination).toMatchObject({ reason: 'algorithmFailed', stage: 'algorithm', exitCode: 1 });
    expect(codes(done)).toEqual([1, 10, 20, 30, 40, 60, 41]);
    const algoLog = await stored(resultOf(done, 'algorithmLog', 'algorithm.log'));
    expect(algoLog).toContain('about to fail');
    expect(algoLog).toContain('boom on stderr');
    expect((await stored(resultOf(done, 'output', 'partial.txt'))).trim()).toBe('partial');
    expect(resultOf(done, 'configurationLog', 'configure.log')).toBeDefined();
    expect(resultOf(done, 'publishLog', 'publish.log')).toBeDefined();
  });

  it('ends failed provisioning with 31 (data: bad URL, wrong checksum) or 32 (algorithm checksum), configure log published', async () => {
    const algoCode = 'console.log("never runs")';
    const algoUrl = files.file('/algo.js', algoCode);
    const noop = shellAlgorithm('echo never runs');
    const [missing, badSum, badAlgo] = await Promise.all([
      start(spec({ algorithm: noop, datasets: [{ files: [{ url: files.url('/does-not-exist.csv') }] }] })),
      start(
        spec({
          algorithm: noop,
          datasets: [{ files: [{ url: files.url('/data.csv'), checksum: sha256('something else') }] }],
        }),
      ),
      start(
        spec({
          algorithm: {
            kind: 'published',
            url: algoUrl,
            checksum: sha256('tampered'),
            image: 'node',
            tag: '24',
            entrypoint: 'node $ALGO',
          },
        }),
      ),
    ]);
    const [m, b, a] = await Promise.all(
      [missing, badSum, badAlgo].map((j) => waitForFinal(core, ns, j.workflow.jobId)),
    );

    expect(m!.status.code).toBe(StatusCode.DataProvisioningFailed);
    expect(m!.status.termination).toMatchObject({ reason: 'dataProvisioningFailed', stage: 'configure', exitCode: 31 });
    expect(await stored(resultOf(m!, 'configurationLog', 'configure.log'))).toContain('download failed: HTTP 404');

    expect(b!.status.code).toBe(StatusCode.DataProvisioningFailed);
    expect(await stored(resultOf(b!, 'configurationLog', 'configure.log'))).toContain(
      'sha256 checksum differs from the declared one',
    );

    expect(a!.status.code).toBe(StatusCode.AlgorithmProvisioningFailed);
    expect(a!.status.termination).toMatchObject({
      reason: 'algorithmProvisioningFailed',
      stage: 'configure',
      exitCode: 32,
    });
    expect(await stored(resultOf(a!, 'configurationLog', 'configure.log'))).toContain(
      'algorithm provisioning failed: algorithm: sha256 checksum differs',
    );

    for (const j of [m!, b!, a!]) {
      expect(codes(j)).toEqual([1, 10, 20, 60, j.status.code]);
      // No algorithm ran: its pod was never created.
      expect(pods.forJobs([j.workflow.jobId]).filter((e) => e.role === 'algorithm')).toEqual([]);
    }
  });

  it('stops a job while it is configuring (71), ending its configure pod', async () => {
    const url = files.hanging('/slow.csv');
    const job = await start(spec({ algorithm: shellAlgorithm('echo never runs'), datasets: [{ files: [{ url }] }] }));
    const podName = jobNames(job.workflow.jobId).pods.configure;
    await waitForPodRunning(podName);
    await waitFor('the download to start', async () => files.hitCount('/slow.csv') > 0, 30_000);
    await requestStop(core, ns, job.workflow.jobId);
    const done = await waitForFinal(core, ns, job.workflow.jobId);

    expect(done.status.code).toBe(StatusCode.JobStopped);
    expect(done.status.termination).toMatchObject({ reason: 'stopped', stage: 'configure' });
    expect(done.status.stopRequested).toBe(true);
    expect(codes(done)).toEqual([1, 10, 20, 71]);
    await waitFor('the configure pod to be gone', async () => (await podPhase(podName)) === undefined, 30_000);
    expect(pods.forJobs([job.workflow.jobId]).filter((e) => e.role !== 'configure')).toEqual([]);
  });

  it('stops a job while its algorithm runs (71), killing the algorithm', async () => {
    const job = await start(
      spec({ algorithm: shellAlgorithm('echo started; sleep 120; echo "$OUTPUTS" > "$OUTPUTS/never.txt"') }),
    );
    const podName = jobNames(job.workflow.jobId).pods.algorithm;
    await waitForPodRunning(podName);
    const pid = await podContainerPid(podName);
    expect(processAlive(pid)).toBe(true);
    await requestStop(core, ns, job.workflow.jobId);
    const done = await waitForFinal(core, ns, job.workflow.jobId);

    expect(done.status.code).toBe(StatusCode.JobStopped);
    expect(done.status.termination).toMatchObject({ reason: 'stopped', stage: 'algorithm' });
    expect(codes(done)).toEqual([1, 10, 20, 30, 40, 71]);
    await waitFor('the algorithm process to end', async () => !processAlive(pid), 30_000);
    await waitFor('the algorithm pod to be gone', async () => (await podPhase(podName)) === undefined, 30_000);
    expect(pods.forJobs([job.workflow.jobId]).filter((e) => e.role === 'publish')).toEqual([]);
  });

  it('stops a job while it is publishing (71), ending the upload', async () => {
    // Enough files that the upload takes seconds, so the stop lands while the publish pod works.
    const job = await start(
      spec({
        algorithm: shellAlgorithm(
          'mkdir -p "$OUTPUTS/many"; i=0; while [ $i -lt 3000 ]; do echo $i > "$OUTPUTS/many/f$i"; i=$((i+1)); done',
        ),
      }),
    );
    const podName = jobNames(job.workflow.jobId).pods.publish;
    await waitForPodRunning(podName);
    await requestStop(core, ns, job.workflow.jobId);
    const done = await waitForFinal(core, ns, job.workflow.jobId);

    expect(done.status.code).toBe(StatusCode.JobStopped);
    expect(done.status.termination).toMatchObject({ reason: 'stopped', stage: 'publish' });
    expect(codes(done)).toEqual([1, 10, 20, 30, 40, 60, 71]);
    expect(done.status.results).toEqual([]);
    await waitFor('the publish pod to be gone', async () => (await podPhase(podName)) === undefined, 30_000);
    const keys = await storedKeys(job.workflow.jobId);
    expect(keys.length).toBeLessThan(3000);
    expect(keys).not.toContain(`${job.workflow.jobId}/logs/publish.log`);
  });

  it('times an algorithm out past its deadline (72) and publishes what it wrote and logged', async () => {
    const job = await start(
      spec({
        maxDurationSeconds: 3,
        algorithm: shellAlgorithm('echo "before the deadline" > "$OUTPUTS/early.txt"; echo sleeping; sleep 120'),
      }),
    );
    const t0 = Date.now();
    const done = await waitForFinal(core, ns, job.workflow.jobId);

    expect(done.status.code).toBe(StatusCode.JobTimedOut);
    expect(done.status.termination).toMatchObject({ reason: 'timedOut', stage: 'algorithm' });
    expect(codes(done)).toEqual([1, 10, 20, 30, 40, 60, 72]);
    const algo = done.status.stages.algorithm!;
    const ran = Date.parse(algo.finishedAt!) - Date.parse(algo.startedAt);
    expect(ran).toBeGreaterThanOrEqual(3000);
    expect(Date.now() - t0).toBeLessThan(60_000);
    expect((await stored(resultOf(done, 'output', 'early.txt'))).trim()).toBe('before the deadline');
    expect(await stored(resultOf(done, 'algorithmLog', 'algorithm.log'))).toContain('sleeping');
  });

  it('cuts the algorithm off the network unless the workflow allows it', async () => {
    const probe = files.file('/probe', 'reached');
    const algo = nodeAlgorithm(`
      const fs = require('fs');
      fetch(${JSON.stringify(probe)}).then((r) => r.text()).then(
        (t) => fs.writeFileSync(process.env.OUTPUTS + '/net.txt', 'reached: ' + t),
        (e) => fs.writeFileSync(process.env.OUTPUTS + '/net.txt', 'failed: ' + (e.cause && e.cause.code)),
      );
    `);
    const [cut, allowed] = await Promise.all([
      start(spec({ algorithm: algo })),
      start(spec({ algorithm: algo, allowNetworkAccess: true })),
    ]);
    const [c, a] = await Promise.all([cut, allowed].map((j) => waitForFinal(core, ns, j.workflow.jobId)));

    expect(c!.status.code).toBe(StatusCode.JobFinished);
    expect(await stored(resultOf(c!, 'output', 'net.txt'))).toMatch(/^failed: (ECONNREFUSED|ENETUNREACH)$/);
    expect(a!.status.code).toBe(StatusCode.JobFinished);
    expect(await stored(resultOf(a!, 'output', 'net.txt'))).toBe('reached: reached');
    // Only the allowed job's request arrived.
    expect(files.hitCount('/probe')).toBe(1);
  });

  it('refuses outputs that escape /data/outputs by symlink and publishes the rest', async () => {
    const job = await start(
      spec({
        algorithm: shellAlgorithm(
          [
            'cd "$OUTPUTS"',
            'echo real > real.txt',
            'ln -s real.txt inside-link.txt',
            'ln -s /etc/passwd passwd',
            `ln -s "$INPUTS" inputs-dir`,
            `ln -s ../inputs/algoCustomData.json custom.json`,
            'ln -s ../transformations/algorithm algo-code',
            'mkdir sub; ln -s ../../logs/configure.log sub/log',
            'ln -s /nowhere dangling',
          ].join('\n'),
        ),
        algoCustomData: { a: 1 },
      }),
    );
    const done = await waitForFinal(core, ns, job.workflow.jobId);

    expect(done.status.code).toBe(StatusCode.JobFinished);
    const outputs = done.status.results
      .filter((r) => r.type === 'output')
      .map((r) => r.filename)
      .sort();
    expect(outputs).toEqual(['inside-link.txt', 'real.txt']);
    expect((await stored(resultOf(done, 'output', 'inside-link.txt'))).trim()).toBe('real');
    const publishLog = await stored(resultOf(done, 'publishLog', 'publish.log'));
    for (const name of ['passwd', 'inputs-dir', 'custom.json', 'algo-code', 'sub/log'])
      expect(publishLog).toContain(`refused outputs/"${name}": symlink leads outside the directory`);
    expect(publishLog).toContain('refused outputs/"dangling": symlink leads nowhere');
    const keys = await storedKeys(job.workflow.jobId);
    expect(keys.filter((k) => k.includes('/outputs/'))).toEqual([
      `${job.workflow.jobId}/outputs/inside-link.txt`,
      `${job.workflow.jobId}/outputs/real.txt`,
    ]);
  });

  it('finishes every job exactly once when the engine is killed at random moments', async () => {
    const rounds = 4;
    const jobs: Array<{ job: BuiltJob; fails: boolean }> = [];
    const createSome = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        const fails = jobs.length % 3 === 2;
        const pause = (Math.random() * 1.5).toFixed(1);
        const code = fails
          ? `sleep ${pause}; echo failing; exit 1`
          : `sleep ${pause}; echo "$DIDS" > "$OUTPUTS/dids.json"`;
        jobs.push({ job: await start(spec({ algorithm: shellAlgorithm(code) })), fails });
      }
    };
    const stagesAtKill: string[] = [];
    const codesNow = (): Promise<number[]> =>
      Promise.all(jobs.map(async ({ job }) => (await readJob(core, ns, job.workflow.jobId)).status.code));
    // A job between "started" and "publishing": the engine is in the middle of it.
    const midway = (codes: number[]): boolean =>
      codes.some((c) => c >= StatusCode.JobStarted && !isFinal(c as StatusCode));
    await createSome(5);
    for (let round = 0; round < rounds; round++) {
      await new Promise((r) => setTimeout(r, 1000 + Math.random() * 3000));
      // The random moment must still find work in progress: when every job has already finished, one more arrives
      // and the kill waits until the engine is midway through it.
      let seen = await codesNow();
      if (!midway(seen)) {
        await createSome(1);
        await waitFor('a job in progress', async () => midway((seen = await codesNow())), 30_000, 20);
      }
      const engine = stack.processes.find((p) => p.name === 'engine')!;
      stagesAtKill.push(seen.join(','));
      engine.child.kill('SIGKILL');
      expect(await engine.exited).toBe('SIGKILL');
      await stack.stop();
      // Pods keep running (and finishing) while no engine watches; new jobs arrive meanwhile too.
      await createSome(round % 2 === 0 ? 2 : 1);
      await new Promise((r) => setTimeout(r, Math.random() * 1500));
      stack = await startLocalStack(env, { engine: true });
    }
    console.log(`status codes of the jobs at each kill: ${stagesAtKill.map((s) => `[${s}]`).join(' ')}`);

    const ids = jobs.map((j) => j.job.workflow.jobId);
    const done = await Promise.all(ids.map((id) => waitForFinal(core, ns, id, 180_000)));
    // Every kill found work in progress: jobs not yet final.
    expect(stagesAtKill.every((s) => s.split(',').some((c) => ![41, 70].includes(Number(c))))).toBe(true);
    for (const [i, d] of done.entries()) {
      const { fails } = jobs[i]!;
      expect(d.status.code).toBe(fails ? StatusCode.AlgorithmFailed : StatusCode.JobFinished);
      expect(codes(d)).toEqual([1, 10, 20, 30, 40, 60, fails ? 41 : 70]);
      if (!fails)
        expect(JSON.parse(await stored(resultOf(d, 'output', 'dids.json')))).toEqual([d.workflow.datasets[0]!.did]);
      const keys = await storedKeys(d.workflow.jobId);
      expect(keys).toEqual([...d.status.results.map((r) => r.key), `${d.workflow.jobId}/manifest.json`].sort());
    }
    // Each stage's pod was created once: one uid per name, three names per job.
    await waitFor(
      'the pod watch to see every pod',
      async () => new Set(pods.forJobs(ids).map((e) => e.name)).size === ids.length * 3,
      10_000,
    );
    const uidsByName = new Map<string, Set<string>>();
    for (const e of pods.forJobs(ids)) uidsByName.set(e.name, (uidsByName.get(e.name) ?? new Set()).add(e.uid));
    expect(uidsByName.size).toBe(ids.length * 3);
    for (const [name, uids] of uidsByName) expect([name, uids.size]).toEqual([name, 1]);
    // The end of each job was announced at most once (a kill between the status write and the Event may lose it).
    for (const d of done) {
      const events = await core.listNamespacedEvent({ namespace: ns, fieldSelector: `involvedObject.name=${d.name}` });
      expect(
        events.items.filter((e) => e.reason === 'JobFinished' || e.reason === 'AlgorithmFailed').length,
      ).toBeLessThanOrEqual(1);
    }
  }, 400_000);

  it('runs 50 jobs on an environment allowing 5: all finish, never more than 5 at once', async () => {
    const jobs = await Promise.all(
      Array.from({ length: 50 }, (_, n) => start(spec({ algorithm: shellAlgorithm(`echo ${n} > "$OUTPUTS/n.txt"`) }))),
    );
    const ids = jobs.map((j) => j.workflow.jobId);
    const done = await Promise.all(ids.map((id) => waitForFinal(core, ns, id, 420_000)));

    expect(done.map((d) => d.status.code)).toEqual(ids.map(() => StatusCode.JobFinished));
    for (const [n, d] of done.entries()) expect((await stored(resultOf(d, 'output', 'n.txt'))).trim()).toBe(String(n));
    const events = pods.forJobs(ids);
    expect(new Set(events.map((e) => e.uid)).size).toBe(150);
    expect(maxActivePods(events, 'algorithm')).toBeLessThanOrEqual(5);
    // Jobs hold their slot from configure to publish, so all their pods together stay within it too, and fill it.
    expect(maxActivePods(events)).toBe(5);
  }, 480_000);
});
