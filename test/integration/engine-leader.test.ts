import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../devcluster/local-stack.ts';
import { waitFor } from '../../devcluster/processes.ts';
import { StatusCode } from '../../lib/job/status.ts';
import { loadKubeConfig } from '../../lib/kube/client.ts';
import { FileServer, createJob, readJob, waitForFinal } from '../support/engine-jobs.ts';
import { buildJob, sha256, shellAlgorithm } from '../support/job-fixtures.ts';

const env = inject('platform');
const ns = env.namespaces.jobs;
const DATASET = 'a,b\n1,2\n';
let kc: KubeConfig;
let core: CoreV1Api;
let stack: LocalStack;
let files: FileServer;

beforeAll(async () => {
  kc = loadKubeConfig(env.kubeconfig);
  core = kc.makeApiClient(CoreV1Api);
  files = await new FileServer().start(env);
  files.file('/data.csv', DATASET);
  stack = await startLocalStack(env, { engineReplicas: 2 });
});

afterAll(async () => {
  await stack?.stop();
  await files?.close();
});

/** Whether the engine behind `url` says it leads (its c2d_engine_leader gauge); a stopped one does not. */
async function leads(url: string, signal?: AbortSignal): Promise<boolean> {
  try {
    const text = await (await fetch(`${url}/metrics`, { signal })).text();
    return /^c2d_engine_leader 1$/m.test(text);
  } catch {
    return false;
  }
}

describe('engine leader election', () => {
  it('hands over in under 2 s when the leader is stopped with SIGTERM, and the job under way still finishes', async () => {
    const urls = stack.engineMetricsUrls;
    expect(urls).toHaveLength(2);
    let leaderIndex = -1;
    await waitFor(
      'one of the two engines to lead',
      async (signal) => {
        const states = await Promise.all(urls.map((u) => leads(u, signal)));
        leaderIndex = states.indexOf(true);
        return states.filter(Boolean).length === 1;
      },
      60_000,
      50,
    );
    const standbyUrl = urls[1 - leaderIndex]!;
    const leader = stack.processes.filter((p) => p.name.startsWith('engine'))[leaderIndex]!;

    // A job in the middle of its algorithm when the leader goes.
    const job = buildJob({
      environment: stack.environmentId,
      datasets: [{ files: [{ url: files.url('/data.csv'), checksum: sha256(DATASET) }] }],
      algorithm: shellAlgorithm('sleep 3; echo done > "$OUTPUTS/out.txt"'),
    });
    await createJob(core, ns, job);
    await waitFor(
      'the job to run its algorithm',
      async () => (await readJob(core, ns, job.workflow.jobId)).status.code === StatusCode.RunningAlgorithm,
      60_000,
      50,
    );

    const sentAt = performance.now();
    leader.child.kill('SIGTERM');
    await waitFor('the standby engine to lead', (signal) => leads(standbyUrl, signal), 20_000, 10);
    const handOverMs = performance.now() - sentAt;
    console.log(`hand-over on SIGTERM of the leader: ${Math.round(handOverMs)} ms`);
    expect(await leader.exited).toBe(0);
    expect(handOverMs).toBeLessThan(2_000);

    const done = await waitForFinal(core, ns, job.workflow.jobId, 120_000);
    expect(done.status.code).toBe(StatusCode.JobFinished);
    expect(done.status.history.map((h) => h.code)).toEqual([1, 10, 20, 30, 40, 60, 70]);
  }, 240_000);
});
