import { allowPublishEgress, internalBase, type InternalBase } from '../support/reachable-base.ts';
import { execFileSync } from 'node:child_process';
import { createDecipheriv } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { encrypt } from 'eciesjs';
import { JsonRpcProvider, Wallet, ZeroAddress } from 'ethers';
import { ProviderInstance as V8 } from '@oceanprotocol/lib-v8';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { binaryPaths } from '../../devcluster/binaries.ts';
import { LOCAL_OUTPUT_KEY, startLocalStack, type LocalStack } from '../../devcluster/local-stack.ts';
import { orderAsset, type PublishedAsset } from '../../devcluster/ocean-assets.ts';
import { startObjectStore } from '../../devcluster/object-store.ts';
import { waitFor, type ManagedProcess } from '../../devcluster/processes.ts';
import { containerSectionChecksum } from '../../lib/access/algo-checksums.ts';
import type { ProviderFee } from '../../lib/chain/provider-fee.ts';
import { jobNames } from '../../lib/job/names.ts';
import { makeS3Client } from '../../lib/job/results-store.ts';
import { loadKubeConfig } from '../../lib/kube/client.ts';
import { nodeContainer, OceanFlow, ref, ScriptedFileServer, sha256hex } from '../support/ocean-flow.ts';

/**
 * A v2 job's own storage target (`output`), as ocean.js 8.6.2 sends it, unchanged: ProviderInstance.freeComputeStart
 * ECIES-encrypts `{ remoteStorage, encryption? }` to the nodePublicKey of `GET /v2`; the publish pod alone decrypts it
 * and sends the outputs, as ocean-node's tar archive, to the consumer's own S3 store (a second MinIO with credentials
 * of its own), AES-encrypted when asked. Targets that cannot be used end the job 62 with the reason in its publish
 * log: a ciphertext that is garbage, one under another key, an internal address.
 */

const env = inject('platform');
const rpc = new JsonRpcProvider(env.rpcUrl);
const consumer = new Wallet(env.keys.consumer, rpc);
const RESOURCES = [
  { id: 'cpu', amount: 0.5 },
  { id: 'ram', amount: 0.5 },
  { id: 'disk', amount: 0.5 },
];
const ALGORITHM = `
const fs = require('fs');
const path = require('path');
fs.mkdirSync(path.join(process.env.OUTPUTS, 'sub'), { recursive: true });
fs.writeFileSync(path.join(process.env.OUTPUTS, 'count.txt'), 'datasets ' + JSON.parse(process.env.DIDS).length + '\\n');
fs.writeFileSync(path.join(process.env.OUTPUTS, 'sub', 'big.bin'), Buffer.alloc(70000, 7));
console.log('wrote the outputs');
`;

type V8Job = {
  jobId: string;
  status: number;
  statusText: string;
  results: { index: number; filename: string; type: string }[];
};
const one = (r: unknown): V8Job => (Array.isArray(r) ? r[0] : r) as V8Job;

let stack: LocalStack;
let flow: OceanFlow;
let files: ScriptedFileServer;
let v2: string;
let dataset: PublishedAsset;
let algorithm: PublishedAsset;
let consumerStore: {
  process: ManagedProcess;
  client: S3Client;
  s3: { endpoint: string; bucket: string; accessKeyId: string; secretAccessKey: string };
};
let scratch: string;
let storeTarget: InternalBase;
let uploadTarget: InternalBase;
let removeEgress: (() => Promise<void>) | undefined;

async function order(): Promise<{ dataset: string; algorithm: string }> {
  const init = (await V8.initializeCompute(
    [ref(dataset)],
    ref(algorithm),
    stack.environmentId,
    ZeroAddress,
    60,
    v2,
    consumer.address,
    RESOURCES,
    env.chainId,
  )) as unknown as { datasets: { providerFee: ProviderFee }[]; algorithm: { providerFee: ProviderFee } };
  const pay = (asset: PublishedAsset, f: ProviderFee) =>
    orderAsset({
      rpcUrl: env.rpcUrl,
      consumerKey: env.keys.consumer,
      datatokenAddress: asset.datatokenAddresses[0]!,
      serviceIndex: 0,
      providerFee: {
        ...f,
        v: Number(f.v),
        validUntil: Number(f.validUntil),
        providerFeeAmount: String(f.providerFeeAmount),
      },
    });
  return {
    dataset: await pay(dataset, init.datasets[0]!.providerFee),
    algorithm: await pay(algorithm, init.algorithm.providerFee),
  };
}

/** ocean.js 8.6.2's freeComputeStart, unchanged, with `output` as a consumer would pass it. */
async function startWithOutput(output: Record<string, unknown>): Promise<V8Job> {
  const o = await order();
  return one(
    await V8.freeComputeStart(
      v2,
      consumer,
      stack.environmentId,
      [{ ...ref(dataset), transferTxId: o.dataset }],
      { ...ref(algorithm), transferTxId: o.algorithm },
      RESOURCES,
      undefined,
      undefined,
      output as never,
    ),
  );
}

/** The same request with `output` already a ciphertext of the test's making, sent as ocean.js sends it. */
async function startWithCiphertext(ciphertextHex: string): Promise<Response> {
  const o = await order();
  const token = await V8.generateAuthToken(consumer, v2);
  return fetch(`${v2}/api/services/freeCompute`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: token },
    body: JSON.stringify({
      consumerAddress: consumer.address,
      environment: stack.environmentId,
      datasets: [{ ...ref(dataset), transferTxId: o.dataset }],
      algorithm: { ...ref(algorithm), transferTxId: o.algorithm },
      resources: RESOURCES,
      output: ciphertextHex,
    }),
  });
}

async function untilFinal(jobId: string): Promise<V8Job> {
  let job: V8Job | undefined;
  await waitFor(
    `job ${jobId} to end`,
    async () => {
      job = one(await V8.computeStatus(v2, consumer, jobId));
      return job.status >= 62 && job.status !== 71;
    },
    180_000,
    500,
  );
  return job!;
}

async function publishLog(job: V8Job): Promise<string> {
  const log = job.results.find((r) => r.type === 'publishLog')!;
  const chunks: Buffer[] = [];
  for await (const c of await V8.getComputeResult(v2, consumer, job.jobId, log.index)) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks).toString('utf8');
}

async function fetchObject(key: string): Promise<Buffer> {
  const res = await consumerStore.client.send(new GetObjectCommand({ Bucket: consumerStore.s3.bucket, Key: key }));
  return Buffer.from(await res.Body!.transformToByteArray());
}

/** Extracts a tar archive with GNU tar; the files under the folder, path → content. */
function untar(archive: Buffer): Record<string, Buffer> {
  const dir = mkdtempSync(join(scratch, 'x-'));
  writeFileSync(join(dir, 'a.tar'), archive);
  mkdirSync(join(dir, 'out'));
  execFileSync('tar', ['-xf', join(dir, 'a.tar'), '-C', join(dir, 'out')]);
  const listed = execFileSync('find', [join(dir, 'out'), '-type', 'f'], { encoding: 'utf8' })
    .trim()
    .split('\n');
  return Object.fromEntries(listed.map((p) => [p.slice(join(dir, 'out').length + 1), readFileSync(p)]));
}

const s3Output = (objectKey: string, extra: Record<string, unknown> = {}) => ({
  remoteStorage: {
    type: 's3',
    s3Access: {
      endpoint: storeTarget.base,
      bucket: consumerStore.s3.bucket,
      objectKey,
      accessKeyId: consumerStore.s3.accessKeyId,
      secretAccessKey: consumerStore.s3.secretAccessKey,
      forcePathStyle: true,
    },
  },
  ...extra,
});

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'c2d-output-it-'));
  mkdirSync(join(scratch, 'logs'));
  const store = await startObjectStore({ binary: binaryPaths().minio, stateDir: scratch, bucket: 'consumer-results' });
  consumerStore = { process: store.process, client: makeS3Client(store.s3), s3: store.s3 };
  files = await new ScriptedFileServer().start(env);
  // The consumer's bucket and upload URL sit inside the publisher's network, as a publisher allows them: listed in
  // PRIVATE_FILE_HOSTS_ALLOWED, and reachable by publish pods through a NetworkPolicy of its own.
  storeTarget = await internalBase(env, Number(new URL(store.s3.endpoint).port), 'consumer-store');
  uploadTarget = await internalBase(env, files.port, 'consumer-uploads');
  removeEgress = await allowPublishEgress(env, 'test-output-targets', [storeTarget, uploadTarget]);
  stack = await startLocalStack(env, {
    privateFileHosts: `127.0.0.0/8,${storeTarget.host}:${storeTarget.port},${uploadTarget.host}:${uploadTarget.port}`,
    environment: {
      minimums: { cpu: 0.5, memoryMiB: 256, diskMiB: 256 },
      free: {
        cpu: 1,
        memoryMiB: 512,
        diskMiB: 512,
        maxJobDurationSeconds: 120,
        maxConcurrentJobs: 3,
        access: { addresses: [] },
      },
    },
  });
  v2 = `${stack.providerUrl}/v2`;
  flow = new OceanFlow(env, stack);
  algorithm = await flow.publishAlgorithm([files.file('/algorithm.js', ALGORITHM)]);
  const trusted = [
    {
      did: algorithm.did,
      filesChecksum: sha256hex(ALGORITHM),
      containerSectionChecksum: containerSectionChecksum(nodeContainer(env)),
    },
  ];
  dataset = await flow.publishDataset(files.file('/dataset.csv', 'a,1\n'), { publisherTrustedAlgorithms: trusted });
}, 300_000);

afterAll(async () => {
  await removeEgress?.();
  await storeTarget?.stop();
  await uploadTarget?.stop();
  await files?.stop();
  await stack?.stop();
  consumerStore?.client.destroy();
  await consumerStore?.process.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe("a v2 job's own storage target", () => {
  it('advertises the output key, not the chain key, as nodePublicKey', async () => {
    const root = (await (await fetch(v2)).json()) as { nodePublicKey: string };
    expect(root.nodePublicKey).toBe(new Wallet(LOCAL_OUTPUT_KEY).signingKey.compressedPublicKey);
    expect(root.nodePublicKey).not.toBe(flow.provider.signingKey.compressedPublicKey);
  });

  it("sends ocean.js 8's job outputs to the consumer's S3 bucket as ocean-node's archive, and only the logs to the provider's store", async () => {
    const started = await startWithOutput(s3Output('runs/'));
    const core = loadKubeConfig(env.kubeconfig).makeApiClient(CoreV1Api);
    const outputSecret = jobNames(started.jobId).outputSecret;
    const secret = await core.readNamespacedSecret({ name: outputSecret, namespace: env.namespaces.jobs });
    // What start kept is the ciphertext, which only the output key opens.
    expect(Buffer.from(secret.data!['output.hex']!, 'base64').toString()).toMatch(/^04[0-9a-f]+$/);
    const job = await untilFinal(started.jobId);
    expect(job.status).toBe(70);
    expect(job.results.map((r) => r.type).sort()).toEqual(['algorithmLog', 'configurationLog', 'publishLog']);
    const name = `outputs-${stack.environmentId}-${job.jobId}.tar`;
    const listed = await consumerStore.client.send(
      new ListObjectsV2Command({ Bucket: consumerStore.s3.bucket, Prefix: 'runs/' }),
    );
    expect(listed.Contents?.map((o) => o.Key)).toContain(`runs/${name}`);
    const extracted = untar(await fetchObject(`runs/${name}`));
    expect(extracted['outputs/count.txt']!.toString()).toBe('datasets 1\n');
    expect(extracted['outputs/sub/big.bin']!.equals(Buffer.alloc(70000, 7))).toBe(true);
    // Only publish reads the job's output Secret: the engine removes it once the job is final.
    await waitFor(
      "the job's output Secret to be removed",
      async () => {
        const names = (await core.listNamespacedSecret({ namespace: env.namespaces.jobs })).items.map(
          (x) => x.metadata?.name,
        );
        return !names.includes(outputSecret);
      },
      30_000,
      200,
    );
    const log = await publishLog(job);
    expect(log).toMatch(/sent 2 outputs as outputs-\S+\.tar \(\d+ bytes\) to the job's output target, an S3 bucket/);
    expect(log).not.toContain(storeTarget.base);
    expect(log).not.toContain(consumerStore.s3.accessKeyId);
  });

  it("PUTs the archive to the consumer's URL with its headers, as ocean-node's url storage does", async () => {
    const uploads: { path: string; headers: Record<string, unknown>; body: Buffer }[] = [];
    const started = await startWithOutput({
      remoteStorage: {
        type: 'url',
        url: `${uploadTarget.base}/uploads/`,
        method: 'put',
        headers: { 'x-upload-token': 'tok' },
      },
    });
    // The server answers exact paths: the archive's, known once the job id is (publish is seconds away).
    const path = `/uploads/outputs-${stack.environmentId}-${started.jobId}.tar`;
    files.route(path, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        uploads.push({ path: req.url!, headers: req.headers, body: Buffer.concat(chunks) });
        res.writeHead(201).end();
      });
    });
    const job = await untilFinal(started.jobId);
    expect(job.status).toBe(70);
    expect(uploads).toHaveLength(1);
    expect(uploads[0]!.path).toBe(path);
    expect(uploads[0]!.headers).toMatchObject({ 'x-upload-token': 'tok', 'content-type': 'application/octet-stream' });
    expect(untar(uploads[0]!.body)['outputs/count.txt']!.toString()).toBe('datasets 1\n');
  });

  it("encrypts the archive as ocean-node does when asked: AES-256-CBC, the vector nodePublicKey's first 16 bytes", async () => {
    const aesKey = 'c0'.repeat(32);
    const job = await untilFinal(
      (await startWithOutput(s3Output('sealed.tar.enc', { encryption: { encryptMethod: 'AES', key: aesKey } }))).jobId,
    );
    expect(job.status).toBe(70);
    const nodePublicKey = ((await (await fetch(v2)).json()) as { nodePublicKey: string }).nodePublicKey;
    const iv = Buffer.from(nodePublicKey.slice(2), 'hex').subarray(0, 16);
    const decipher = createDecipheriv('aes-256-cbc', Buffer.from(aesKey, 'hex'), iv);
    const sealed = await fetchObject('sealed.tar.enc');
    const archive = Buffer.concat([decipher.update(sealed), decipher.final()]);
    expect(untar(archive)['outputs/count.txt']!.toString()).toBe('datasets 1\n');
  });

  it('ends 62 with the reason in the publish log, and writes nothing anywhere, for a target that cannot be used', async () => {
    const otherKey = new Wallet('0x' + '77'.repeat(32)).signingKey.compressedPublicKey;
    const underOtherKey = Buffer.from(encrypt(otherKey.slice(2), Buffer.from(JSON.stringify(s3Output('x/'))))).toString(
      'hex',
    );
    const garbage = '04' + Buffer.alloc(200, 0x5a).toString('hex');
    const refused = [
      {
        start: () => startWithCiphertext(underOtherKey),
        reason: /could not be decrypted with this provider's output key/,
      },
      { start: () => startWithCiphertext(garbage), reason: /could not be decrypted/ },
      {
        start: async () => {
          const internal = s3Output('x/');
          (internal.remoteStorage.s3Access as { endpoint: string }).endpoint = 'http://10.20.30.40:9000';
          return startWithOutput(internal);
        },
        reason: /remoteStorage.s3Access.endpoint is an address not allowed/,
      },
    ];
    const started: string[] = [];
    for (const r of refused) {
      const res = await r.start();
      if (res instanceof Response) {
        expect(res.status).toBe(200);
        started.push(one(await res.json()).jobId);
      } else started.push(res.jobId);
    }
    for (const [i, jobId] of started.entries()) {
      const job = await untilFinal(jobId);
      expect(job.status).toBe(62);
      expect(job.statusText).toBe('Failed to upload results to storage');
      expect(job.results.map((r) => r.type)).not.toContain('output');
      expect(await publishLog(job)).toMatch(refused[i]!.reason);
    }
    const listed = await consumerStore.client.send(
      new ListObjectsV2Command({ Bucket: consumerStore.s3.bucket, Prefix: 'x/' }),
    );
    expect(listed.KeyCount ?? 0).toBe(0);
  });

  it('refuses at start what is not a ciphertext, naming the field', async () => {
    const res = await startWithCiphertext('not hex at all');
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ field: 'output' });
  });
});
