import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { Wallet, getBytes, keccak256, toUtf8Bytes } from 'ethers';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../devcluster/local-stack.ts';
import { makeS3Client } from '../../lib/job/results-store.ts';
import {
  STATUS_KEY,
  WORKFLOW_KEY,
  buildJobConfigMap,
  readJobConfigMap,
  type JobConfigMap,
} from '../../lib/job/configmap.ts';
import { jobNames } from '../../lib/job/names.ts';
import { buildJobSecret } from '../../lib/job/secret.ts';
import { StatusCode, initialStatus, type Result } from '../../lib/job/status.ts';
import { loadKubeConfig } from '../../lib/kube/client.ts';
import { FileServer, createJob, readObject, waitForFinal } from '../support/engine-jobs.ts';
import { buildJob, nodeAlgorithm, sha256, type BuiltJob } from '../support/job-fixtures.ts';

/**
 * Issue 10, items 6 and 7, played against the running platform: a job whose results list outgrows its ConfigMap,
 * any status write the API server refuses for good, and outputs (dense and sparse) beyond the job's disk limit.
 */

const env = inject('platform');
const ns = env.namespaces.jobs;
const DISK_MIB = 16;
const DATASET = 'a,b\n1,2\n';
/** The API server's cap on a ConfigMap's data (core.MaxSecretSize). */
const CONFIGMAP_MAX_BYTES = 1024 * 1024;

let kc: KubeConfig;
let core: CoreV1Api;
let s3: S3Client;
let stack: LocalStack;
let files: FileServer;
const consumer = new Wallet(env.keys.consumer);

beforeAll(async () => {
  kc = loadKubeConfig(env.kubeconfig);
  core = kc.makeApiClient(CoreV1Api);
  s3 = makeS3Client(env.s3);
  files = await new FileServer().start(env);
  files.file('/data.csv', DATASET);
  // An environment of its own, so jobs of other files never share its slots.
  stack = await startLocalStack(env, {
    engine: true,
    environment: { id: 'security-results', diskMiB: DISK_MIB, maxConcurrentJobs: 4 },
  });
});

afterAll(async () => {
  await stack?.stop();
  await files?.close();
  s3?.destroy();
});

function job(code: string): BuiltJob {
  const built = buildJob({
    environment: stack.environmentId,
    owner: consumer.address.toLowerCase(),
    datasets: [{ files: [{ url: files.url('/data.csv'), checksum: sha256(DATASET) }] }],
    algorithm: nodeAlgorithm(code),
  });
  built.workflow.limits.diskMiB = DISK_MIB;
  return built;
}

async function storedKeys(jobId: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: env.s3.bucket, Prefix: `${jobId}/`, ContinuationToken: token }),
    );
    keys.push(...(page.Contents ?? []).map((o) => o.Key!));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys.sort();
}

/** The job's pods that may still run (not finished, not being deleted). */
async function activePods(jobId: string): Promise<string[]> {
  const names = Object.values(jobNames(jobId).pods);
  const pods = await Promise.all(
    names.map((name) => core.readNamespacedPod({ name, namespace: ns }).catch(() => undefined)),
  );
  return pods
    .filter(
      (p) => p && !p.metadata?.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed',
    )
    .map((p) => p!.metadata!.name!);
}

/** The nonce ocean.js signs next: the one the provider reports, plus one. */
async function nextNonce(): Promise<string> {
  const reported = (
    (await (await fetch(`${stack.providerUrl}/api/services/nonce?userAddress=${consumer.address}`)).json()) as {
      nonce: number;
    }
  ).nonce;
  return String(BigInt(reported) + 1n);
}

/** What ocean.js signs: an EIP-191 message over keccak256 of the text. */
const sign = (text: string): Promise<string> => consumer.signMessage(getBytes(keccak256(toUtf8Bytes(text))));

/** GET computeResult as ocean.js's getComputeResultUrl builds it, signed by the job's owner. */
async function fetchResult(jobId: string, index: number): Promise<Response> {
  const nonce = await nextNonce();
  const signature = await sign(`${consumer.address}${jobId}${index}${nonce}`);
  const q = new URLSearchParams({ consumerAddress: consumer.address, jobId, index: String(index), nonce, signature });
  return fetch(`${stack.providerUrl}/api/services/computeResult?${q}`);
}

/** DELETE compute for the job's owner. */
async function deleteJob(jobId: string): Promise<Response> {
  const nonce = await nextNonce();
  const body = {
    consumerAddress: consumer.address,
    jobId,
    nonce,
    signature: await sign(`${consumer.address}${jobId}${nonce}`),
  };
  return fetch(`${stack.providerUrl}/api/services/compute`, {
    method: 'DELETE',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

const outputsOf = (j: JobConfigMap): Result[] => j.status.results.filter((r) => r.type === 'output');

describe('item 6: a results list larger than a ConfigMap', () => {
  it('2,500 outputs with long names: the job finishes 70, the status holds a summary, every index is served', async () => {
    const count = 2500;
    const name = (i: number): string => `f${String(i).padStart(5, '0')}-${'x'.repeat(200)}.txt`;
    const attack = job(`
      const fs = require('fs');
      for (let i = 0; i < ${count}; i++) fs.writeFileSync(process.env.OUTPUTS + '/f' + String(i).padStart(5, '0') + '-' + 'x'.repeat(200) + '.txt', String(i));
    `);
    await createJob(core, ns, attack);
    const done = await waitForFinal(core, ns, attack.workflow.jobId, 240_000);

    expect(done.status.code, JSON.stringify(done.status.termination)).toBe(StatusCode.JobFinished);
    // configure.log, algorithm.log, the outputs, publish.log.
    expect((done.status as { resultsTotal?: number }).resultsTotal).toBe(count + 3);
    expect(done.status.results.length).toBeLessThanOrEqual(103);
    expect(done.status.results.map((r) => r.type)).toEqual(
      expect.arrayContaining(['configurationLog', 'algorithmLog', 'publishLog']),
    );
    expect(await activePods(attack.workflow.jobId)).toEqual([]);

    // Results the summary leaves out are served by index all the same; the last index is the publish log.
    for (const i of [1998, count - 1]) {
      const res = await fetchResult(attack.workflow.jobId, i + 2);
      expect(res.status, name(i)).toBe(200);
      expect(await res.text()).toBe(String(i));
      expect(res.headers.get('content-disposition')).toContain(name(i).slice(0, 200));
    }
    const last = await fetchResult(attack.workflow.jobId, count + 2);
    expect(last.status).toBe(200);
    expect(await last.text()).toContain(`published ${count + 2} files`);
    expect((await fetchResult(attack.workflow.jobId, count + 3)).status).toBe(404);

    // Deleting the job removes everything it stored, not only what its status lists.
    const deleted = await deleteJob(attack.workflow.jobId);
    expect(deleted.status, await deleted.clone().text()).toBe(200);
    expect(await storedKeys(attack.workflow.jobId)).toEqual([]);
  }, 400_000);

  it('a status write the API server refuses for good ends the job with a failure and frees its slot', async () => {
    const built = job(`
      const fs = require('fs');
      for (let i = 0; i < 60; i++) fs.writeFileSync(process.env.OUTPUTS + '/out' + i + '-' + 'y'.repeat(150), 'x');
    `);
    // The ConfigMap is filled so close to the API server's limit that the status with 60 results cannot fit, while
    // every earlier status (and a final one without results) can.
    const body = buildJobConfigMap(built.workflow, initialStatus(new Date()), ns);
    const used = Buffer.byteLength(body.data![WORKFLOW_KEY]!) + Buffer.byteLength(body.data![STATUS_KEY]!);
    body.data!.padding = 'p'.repeat(CONFIGMAP_MAX_BYTES - used - 'padding'.length - 8_000);
    const cm = readJobConfigMap(await core.createNamespacedConfigMap({ namespace: ns, body }));
    await core.createNamespacedSecret({ namespace: ns, body: buildJobSecret(built.workflow, built.secret, cm, ns) });
    const done = await waitForFinal(core, ns, built.workflow.jobId, 180_000);

    expect(done.status.code).toBe(StatusCode.ResultsUploadFailed);
    expect(done.status.termination).toMatchObject({ reason: 'resultsUploadFailed', stage: 'publish' });
    expect(done.status.termination?.message).toMatch(/status could not be recorded: 422/);
    expect(done.status.history.map((h) => h.code)).toEqual([1, 10, 20, 30, 40, 60, 62]);
    expect(done.status.results).toEqual([]);
    await expect.poll(() => activePods(built.workflow.jobId), { timeout: 30_000 }).toEqual([]);
  }, 400_000);
});

describe("item 7: outputs beyond the job's disk limit", () => {
  it('dense (20 MiB) and sparse (48 MiB) outputs over a 16 MiB limit end 42 with nothing of the outputs uploaded', async () => {
    const dense = job(`
      const fs = require('fs');
      fs.writeFileSync(process.env.OUTPUTS + '/small.txt', 'fits on its own');
      fs.writeFileSync(process.env.OUTPUTS + '/dense.bin', Buffer.alloc(20 * 1024 * 1024, 1));
      console.log('wrote dense outputs');
    `);
    const sparse = job(`
      const fs = require('fs');
      const path = process.env.OUTPUTS + '/sparse.bin';
      fs.closeSync(fs.openSync(path, 'w'));
      fs.truncateSync(path, 48 * 1024 * 1024);
      console.log('wrote a sparse output of', fs.statSync(path).size, 'bytes in', fs.statSync(path).blocks, 'blocks');
    `);
    await Promise.all([createJob(core, ns, dense), createJob(core, ns, sparse)]);
    const done = await Promise.all([dense, sparse].map((j) => waitForFinal(core, ns, j.workflow.jobId, 240_000)));

    for (const d of done) {
      const jobId = d.workflow.jobId;
      expect(d.status.code, JSON.stringify(d.status.termination)).toBe(StatusCode.DiskQuotaExceeded);
      expect(d.status.termination).toMatchObject({ reason: 'diskQuotaExceeded', stage: 'publish' });
      expect(d.status.history.map((h) => h.code)).toEqual([1, 10, 20, 30, 40, 60, 42]);
      expect(outputsOf(d)).toEqual([]);
      expect((await storedKeys(jobId)).filter((k) => k.startsWith(`${jobId}/outputs/`))).toEqual([]);
      // The logs still say what happened.
      const publishLog = d.status.results.find((r) => r.type === 'publishLog');
      expect(await readObject(s3, env.s3.bucket, publishLog!.key)).toMatch(
        /over the job's disk limit of 16777216 bytes: no output was uploaded/,
      );
      const algorithmLog = d.status.results.find((r) => r.filename === 'algorithm.log');
      expect(await readObject(s3, env.s3.bucket, algorithmLog!.key)).toMatch(
        /wrote (dense outputs|a sparse output of 50331648 bytes)/,
      );
    }
  }, 400_000);

  it('outputs within the limit are published as before', async () => {
    const fits = job(
      `require('fs').writeFileSync(process.env.OUTPUTS + '/one-mib.bin', Buffer.alloc(1024 * 1024, 7));`,
    );
    await createJob(core, ns, fits);
    const done = await waitForFinal(core, ns, fits.workflow.jobId, 180_000);

    expect(done.status.code).toBe(StatusCode.JobFinished);
    expect(outputsOf(done).map((r) => [r.filename, r.filesize])).toEqual([['one-mib.bin', 1024 * 1024]]);
  }, 300_000);
});
