import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:http';
import { CoreV1Api } from '@kubernetes/client-node';
import { Wallet, getBytes, keccak256, parseUnits, toUtf8Bytes } from 'ethers';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { reachableBase, type ReachableBase } from '../support/reachable-base.ts';
import { startLocalStack, type LocalStack } from '../../devcluster/local-stack.ts';
import {
  algorithmDdo,
  datasetDdo,
  orderAsset,
  publishAsset,
  type PublishedAsset,
} from '../../devcluster/ocean-assets.ts';
import { ProviderInstance, ethers5 } from '../../devcluster/ocean-client.ts';
import { freePort, stopChild, waitFor } from '../../devcluster/processes.ts';
import { containerSectionChecksum } from '../../lib/access/algo-checksums.ts';
import { nodeContainer } from '../support/ocean-flow.ts';
import { FUNCTION_NAMES, mountedEndpoints, type FunctionName } from '../../lib/api/endpoints.ts';
import type { ProviderFee } from '../../lib/chain/provider-fee.ts';
import type { ProviderFees } from '../../node_modules/@oceanprotocol/lib/dist/types/@types/Provider.js';
import { jobNames, newJobId } from '../../lib/job/names.ts';
import { resultsStoreEnv } from '../../lib/job/results-store-config.ts';
import { bundleFunctions } from '../../scripts/bundle-functions.ts';
import { loadKubeConfig } from '../../lib/kube/client.ts';

/**
 * The HTTP API as Ocean's own client sees it: every function behind the local gateway, the engine running jobs on
 * the local node, assets published and ordered on the local chain, ocean.js 3.x ProviderInstance as the consumer.
 */

const env = inject('platform');
const CONTAINER = nodeContainer(env);
const provider = new Wallet(env.keys.provider);
const consumer = new Wallet(env.keys.consumer);
const other = new Wallet(env.keys.other);
let consumer5: InstanceType<typeof ethers5.Wallet>;
let other5: InstanceType<typeof ethers5.Wallet>;
let stack: LocalStack;
let url: string;
let core: CoreV1Api;

// The publisher's storage: only configure pods (and the provider, for algorithm checksums) ever fetch from it.
const published = new Map<string, string>();
let files: Server;
let filesBase: string;
let reachable: ReachableBase | undefined;

const sha256hex = (s: string): string => createHash('sha256').update(s).digest('hex');
const now = (): number => Math.floor(Date.now() / 1000);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const FINAL = [31, 32, 41, 42, 62, 70, 71, 72];

const DATASET_CSV = Array.from({ length: 50 }, (_, i) => `${i},${(i * 7) % 13}`).join('\n') + '\n';
/** Sums the dataset's second column; prints to its log and writes two outputs, one in a subdirectory. */
const ALGORITHM = `
const fs = require('fs');
const path = require('path');
const did = JSON.parse(process.env.DIDS)[0];
const rows = fs.readFileSync(path.join(process.env.INPUTS, did, '0'), 'utf8').trim().split('\\n');
const sum = rows.reduce((s, r) => s + Number(r.split(',')[1]), 0);
console.log('rows ' + rows.length);
console.log('sum ' + sum);
fs.writeFileSync(path.join(process.env.OUTPUTS, 'sum.json'), JSON.stringify({ rows: rows.length, sum }));
fs.mkdirSync(path.join(process.env.OUTPUTS, 'more'), { recursive: true });
fs.writeFileSync(path.join(process.env.OUTPUTS, 'more', 'note.txt'), 'done\\n');
`;
const EXPECTED_SUM = Array.from({ length: 50 }, (_, i) => (i * 7) % 13).reduce((a, b) => a + b, 0);

function serve(body: string): string {
  const path = `/private-${randomBytes(8).toString('hex')}/file`;
  published.set(path, body);
  return filesBase + path;
}

async function publishAlgorithm(code = ALGORITHM): Promise<{ asset: PublishedAsset; fileUrl: string }> {
  const fileUrl = serve(code);
  const asset = await publishAsset({
    rpcUrl: env.rpcUrl,
    ocean: env.ocean,
    publisherKey: env.keys.publisher,
    providerAddress: provider.address,
    encryptFilesTo: provider.signingKey.publicKey,
    mintTo: consumer.address,
    ddo: algorithmDdo({
      name: 'sum',
      files: [{ type: 'url', url: fileUrl, method: 'GET' }],
      serviceEndpoint: url,
      container: CONTAINER,
      language: 'javascript',
    }),
  });
  return { asset, fileUrl };
}

async function publishDataset(
  trusted: { asset: PublishedAsset; code: string }[],
  compute: { allowRawAlgorithm?: boolean } = {},
): Promise<{ asset: PublishedAsset; fileUrl: string }> {
  const fileUrl = serve(DATASET_CSV);
  const asset = await publishAsset({
    rpcUrl: env.rpcUrl,
    ocean: env.ocean,
    publisherKey: env.keys.publisher,
    providerAddress: provider.address,
    encryptFilesTo: provider.signingKey.publicKey,
    mintTo: consumer.address,
    ddo: datasetDdo({
      name: 'numbers',
      // The header proves headers travel as secretly as the URL.
      files: [
        { type: 'url', url: fileUrl, method: 'GET', headers: { 'X-Api-Key': 'k-' + randomBytes(6).toString('hex') } },
      ],
      serviceEndpoint: url,
      compute: {
        ...compute,
        publisherTrustedAlgorithms: trusted.map((t) => ({
          did: t.asset.did,
          filesChecksum: sha256hex(t.code),
          containerSectionChecksum: containerSectionChecksum(CONTAINER),
        })),
      },
    }),
  });
  return { asset, fileUrl };
}

const ref = (asset: PublishedAsset) => ({ documentId: asset.did, serviceId: asset.ddo.services[0]!.id });

/** ocean.js types the fee's numbers as strings; the provider answers numbers, which the contracts take either way. */
function toFee(f: ProviderFees): ProviderFee {
  return { ...f, v: Number(f.v), validUntil: Number(f.validUntil), providerFeeAmount: String(f.providerFeeAmount) };
}

interface Orders {
  datasetTx: string;
  algorithmTx: string;
}

/** initializeCompute through ocean.js, then both orders on chain with the fees it returned. */
async function initializeAndOrder(
  dataset: PublishedAsset,
  algorithm: PublishedAsset,
  validUntil = now() + 1800,
): Promise<Orders> {
  const init = await ProviderInstance.initializeCompute(
    [ref(dataset)],
    ref(algorithm),
    stack.environmentId,
    validUntil,
    url,
    consumer.address,
  );
  const datasetFee = init.datasets?.[0]?.providerFee;
  const algoFee = init.algorithm?.providerFee;
  if (!datasetFee || !algoFee) throw new Error(`initializeCompute returned no fees: ${JSON.stringify(init)}`);
  const order = (asset: PublishedAsset, fee: ProviderFee) =>
    orderAsset({
      rpcUrl: env.rpcUrl,
      consumerKey: env.keys.consumer,
      datatokenAddress: asset.datatokenAddresses[0]!,
      serviceIndex: 0,
      providerFee: fee,
    });
  return { datasetTx: await order(dataset, toFee(datasetFee)), algorithmTx: await order(algorithm, toFee(algoFee)) };
}

async function nextNonce(address: string): Promise<string> {
  return String((await ProviderInstance.getNonce(url, address)) + 1);
}

/** What ocean.js signs: an EIP-191 message over keccak256 of the text. */
function sign(wallet: Wallet, message: string): Promise<string> {
  return wallet.signMessage(getBytes(keccak256(toUtf8Bytes(message))));
}

/** The body ocean.js's computeStart posts, signed by `signer`, for requests ocean.js would not let through. */
async function startBody(
  signer: Wallet,
  dataset: PublishedAsset,
  algorithm: PublishedAsset,
  orders: Orders,
  extra: Record<string, unknown> = {},
) {
  const nonce = await nextNonce(signer.address);
  return {
    consumerAddress: signer.address,
    nonce,
    signature: await sign(signer, signer.address + dataset.did + nonce),
    environment: stack.environmentId,
    dataset: { ...ref(dataset), transferTxId: orders.datasetTx },
    algorithm: { ...ref(algorithm), transferTxId: orders.algorithmTx },
    ...extra,
  };
}

function post(path: string, body: unknown, method = 'POST'): Promise<Response> {
  return fetch(url + path, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

type OceanJob = {
  jobId: string;
  status: number;
  statusText: string;
  results: { index?: number; filename: string; filesize: number; type: string }[];
  dateFinished: string | null;
};

async function statusOf(jobId: string): Promise<OceanJob> {
  const jobs = (await ProviderInstance.computeStatus(url, consumer.address, jobId)) as unknown as OceanJob[];
  return jobs[0]!;
}

async function untilFinished(jobId: string, timeoutMs = 240_000): Promise<OceanJob> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await statusOf(jobId);
    if (FINAL.includes(job.status)) return job;
    if (Date.now() > deadline)
      throw new Error(
        `job ${jobId} still at ${job.status} ${job.statusText}; see ${stack.processes.map((p) => p.logFile).join(', ')}`,
      );
    await sleep(500);
  }
}

async function logsUrl(signer: Wallet, jobId: string, stage: string, nonce?: string): Promise<string> {
  const n = nonce ?? (await nextNonce(signer.address));
  const signature = await sign(signer, `${signer.address}${jobId}${stage}${n}`);
  const q = new URLSearchParams({ consumerAddress: signer.address, jobId, stage, nonce: n, signature });
  return `${url}/api/services/computeLogs?${q}`;
}

beforeAll(async () => {
  files = createServer((req, res) => {
    const body = published.get(req.url ?? '');
    res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'text/plain' }).end(body ?? 'not found');
  });
  await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
  reachable = await reachableBase(env, (files.address() as { port: number }).port);
  filesBase = reachable.base;
  stack = await startLocalStack(env);
  url = stack.providerUrl;
  core = loadKubeConfig(env.kubeconfig).makeApiClient(CoreV1Api);
  const chain = new ethers5.providers.JsonRpcProvider(env.rpcUrl);
  consumer5 = new ethers5.Wallet(env.keys.consumer, chain);
  other5 = new ethers5.Wallet(env.keys.other, chain);
});

afterAll(async () => {
  await stack?.stop();
  await reachable?.stop();
  await new Promise<void>((resolve) => (files ? files.close(() => resolve()) : resolve()));
});

describe('a compute job through ocean.js', () => {
  let algorithm: { asset: PublishedAsset; fileUrl: string };
  let dataset: { asset: PublishedAsset; fileUrl: string };
  let orders: Orders;
  let jobId: string;
  let finished: OceanJob;

  beforeAll(async () => {
    algorithm = await publishAlgorithm();
    dataset = await publishDataset([{ asset: algorithm.asset, code: ALGORITHM }]);
  });

  it('quotes the environment price for the dataset and a free fee for the algorithm', async () => {
    const validUntil = now() + 900;
    const init = await ProviderInstance.initializeCompute(
      [ref(dataset.asset)],
      ref(algorithm.asset),
      stack.environmentId,
      validUntil,
      url,
      consumer.address,
    );
    expect(init.datasets?.[0]).toMatchObject({ datatoken: dataset.asset.datatokenAddresses[0] });
    const fee = init.datasets?.[0]?.providerFee;
    // The local environment costs 0.001 OCEAN a minute; 900 s are 15 started minutes.
    expect(BigInt(String(fee?.providerFeeAmount))).toBe(parseUnits('0.015', 18));
    expect(fee).toMatchObject({
      providerFeeAddress: provider.address,
      providerFeeToken: expect.stringMatching(/^0x/i),
      validUntil,
    });
    expect(init.algorithm).toMatchObject({
      datatoken: algorithm.asset.datatokenAddresses[0],
      providerFee: { providerFeeAmount: '0' },
    });
  });

  it('starts the job, and refuses a replay and a second job on the same orders', async () => {
    orders = await initializeAndOrder(dataset.asset, algorithm.asset);
    const started = await ProviderInstance.computeStart(
      url,
      consumer5,
      stack.environmentId,
      { ...ref(dataset.asset), transferTxId: orders.datasetTx },
      { ...ref(algorithm.asset), transferTxId: orders.algorithmTx },
    );
    const job = (Array.isArray(started) ? started[0] : started) as unknown as OceanJob & Record<string, unknown>;
    expect(job).toMatchObject({
      status: 1,
      owner: consumer.address,
      did: dataset.asset.did,
      algoDID: algorithm.asset.did,
      agreementId: orders.datasetTx.toLowerCase(),
    });
    jobId = job.jobId;
    // The decrypted locations are in the job's Secret (until the job is done), and not in its ConfigMap.
    const secret = await core.readNamespacedSecret({ name: jobNames(jobId).secret, namespace: env.namespaces.jobs });
    const secretText = Object.values(secret.data ?? {})
      .map((v) => Buffer.from(v, 'base64').toString('utf8'))
      .join('');
    const configMap = JSON.stringify(
      await core.readNamespacedConfigMap({ name: jobNames(jobId).configMap, namespace: env.namespaces.jobs }),
    );
    for (const fileUrl of [dataset.fileUrl, algorithm.fileUrl]) {
      expect(secretText).toContain(fileUrl);
      expect(configMap).not.toContain(new URL(fileUrl).pathname);
    }

    const body = await startBody(consumer, dataset.asset, algorithm.asset, orders);
    const again = await post('/api/services/compute', body);
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: string }).error).toMatch(/already backs job/);
    // The refused request stored nothing, not even its nonce.
    expect(String(await ProviderInstance.getNonce(url, consumer.address))).toBe(String(BigInt(body.nonce) - 1n));
    // New orders start a second job; the very same request again is a replay.
    const onNewOrders = await startBody(
      consumer,
      dataset.asset,
      algorithm.asset,
      await initializeAndOrder(dataset.asset, algorithm.asset),
    );
    const second = await post('/api/services/compute', onNewOrders);
    expect(second.status).toBe(200);
    const secondJob = ((await second.json()) as OceanJob[])[0]!;
    // status answers from a watch of the job ConfigMaps; a job it has not seen yet is read from the API, so the job
    // is there the moment start has answered.
    const statusNow = async (): Promise<OceanJob & { stopRequested?: boolean }> => {
      const res = await fetch(
        `${url}/api/services/compute?consumerAddress=${consumer.address}&jobId=${secondJob.jobId}`,
      );
      expect(res.status).toBe(200);
      return ((await res.json()) as (OceanJob & { stopRequested?: boolean })[])[0]!;
    };
    expect(await statusNow()).toMatchObject({ jobId: secondJob.jobId, stopRequested: false });
    expect((await post('/api/services/compute', onNewOrders)).status).toBe(401);
    // Not needed any further: stopped right away; stopping it again changes nothing.
    for (let i = 0; i < 2; i++) {
      const stopped = await ProviderInstance.computeStop(
        dataset.asset.did,
        consumer.address,
        secondJob.jobId,
        url,
        consumer5,
      );
      expect((stopped as unknown as Record<string, unknown>[])[0]).toMatchObject({
        jobId: secondJob.jobId,
        stopRequested: true,
      });
    }
    // ... and the change reaches status through its watch within moments.
    const deadline = Date.now() + 5_000;
    while (!(await statusNow()).stopRequested && Date.now() < deadline) await sleep(50);
    expect((await statusNow()).stopRequested).toBe(true);
  });

  it('runs to 70 and serves its logs and every result to the owner', async () => {
    finished = await untilFinished(jobId);
    expect(finished, JSON.stringify(finished)).toMatchObject({ status: 70 });
    const byName = new Map(finished.results.map((r) => [r.filename, r]));
    expect([...byName.keys()]).toEqual(
      expect.arrayContaining(['sum.json', 'more/note.txt', 'algorithm.log', 'configure.log']),
    );
    for (const result of finished.results) {
      const resultUrl = await ProviderInstance.getComputeResultUrl(url, consumer5, jobId, result.index ?? 0);
      const res = await fetch(resultUrl);
      expect(res.status, result.filename).toBe(200);
      const body = await res.text();
      expect(Buffer.byteLength(body), result.filename).toBe(result.filesize);
      if (result.filename === 'sum.json') expect(JSON.parse(body)).toEqual({ rows: 50, sum: EXPECTED_SUM });
      if (result.filename === 'more/note.txt') expect(body).toBe('done\n');
      if (result.filename === 'algorithm.log') expect(body).toContain(`sum ${EXPECTED_SUM}`);
      // The same signed URL again is a replay.
      expect((await fetch(resultUrl)).status).toBe(401);
    }
    const log = await fetch(await logsUrl(consumer, jobId, 'algorithm'));
    expect(log.status).toBe(200);
    expect(await log.text()).toContain(`rows 50\nsum ${EXPECTED_SUM}\n`);
  });

  it('answers the job to its owner only, and refuses replays of every signed call', async () => {
    const forOther = await fetch(`${url}/api/services/compute?consumerAddress=${other.address}&jobId=${jobId}`);
    expect(forOther.status).toBe(403);
    expect((await fetch(await logsUrl(other, jobId, 'algorithm'))).status).toBe(403);
    expect((await fetch(await ProviderInstance.getComputeResultUrl(url, other5, jobId, 0))).status).toBe(403);
    await expect(ProviderInstance.computeStop(dataset.asset.did, other.address, jobId, url, other5)).rejects.toThrow(
      /another address/,
    );
    await expect(ProviderInstance.computeDelete(dataset.asset.did, other5, jobId, url)).rejects.toThrow(
      /another address/,
    );

    const nonce = await nextNonce(consumer.address);
    const logs = await logsUrl(consumer, jobId, 'configure', nonce);
    expect((await fetch(logs)).status).toBe(200);
    expect((await fetch(logs)).status).toBe(401);

    // Stopping a finished job answers it as it is. Stop's signature covers no nonce (ocean.js 3.x), so the same stop
    // again is answered the same way and takes no nonce.
    const stop = {
      consumerAddress: consumer.address,
      jobId,
      nonce: await nextNonce(consumer.address),
      signature: await sign(consumer, consumer.address + jobId),
    };
    const stopped = await post('/api/services/compute', stop, 'PUT');
    expect(stopped.status).toBe(200);
    expect(((await stopped.json()) as OceanJob[])[0]).toMatchObject({ jobId, status: 70 });
    const replayed = await post('/api/services/compute', stop, 'PUT');
    expect(replayed.status).toBe(200);
    expect(((await replayed.json()) as OceanJob[])[0]).toMatchObject({ jobId, status: 70 });
    expect(await nextNonce(consumer.address)).toBe(stop.nonce);
  });

  it('never lets the encrypted file locations into a ConfigMap, event, pod log or service log', async () => {
    const secrets = [dataset.fileUrl, algorithm.fileUrl].map((u) => new URL(u).pathname);
    const haystacks: [string, string][] = [];
    for (const namespace of [env.namespaces.jobs, env.namespaces.system, 'default']) {
      for (const cm of (await core.listNamespacedConfigMap({ namespace })).items)
        haystacks.push([`configmap ${namespace}/${cm.metadata?.name}`, JSON.stringify(cm)]);
      for (const ev of (await core.listNamespacedEvent({ namespace })).items)
        haystacks.push([`event ${namespace}/${ev.metadata?.name}`, JSON.stringify(ev)]);
    }
    const pods = (await core.listNamespacedPod({ namespace: env.namespaces.jobs })).items;
    expect(pods.map((p) => p.metadata?.name)).toContain(jobNames(jobId).pods.configure);
    for (const pod of pods) {
      for (const container of pod.spec?.containers ?? []) {
        const log = await core
          .readNamespacedPodLog({
            name: pod.metadata!.name!,
            namespace: env.namespaces.jobs,
            container: container.name,
          })
          .catch(() => '');
        haystacks.push([`log of ${pod.metadata?.name}/${container.name}`, log]);
      }
      haystacks.push([`pod ${pod.metadata?.name}`, JSON.stringify(pod)]);
    }
    for (const p of stack.processes) haystacks.push([`${p.name} log`, readFileSync(p.logFile, 'utf8')]);
    const leaks = haystacks.filter(([, text]) => secrets.some((s) => text.includes(s))).map(([where]) => where);
    expect(leaks).toEqual([]);
    expect(haystacks.length).toBeGreaterThan(10);
  });

  it('deletes the finished job for its owner, once', async () => {
    // The body ocean.js's computeDelete sends: no nonce, the signature covers the stored nonce + 1.
    const nonce = await nextNonce(consumer.address);
    const body = {
      documentId: dataset.asset.did,
      consumerAddress: consumer.address,
      jobId,
      signature: await sign(consumer, consumer.address + jobId + dataset.asset.did + nonce),
    };
    const deleted = await post('/api/services/compute', body, 'DELETE');
    expect(deleted.status).toBe(200);
    expect(((await deleted.json()) as OceanJob[])[0]).toMatchObject({ jobId, status: 70, results: [] });
    await expect(
      core.readNamespacedConfigMap({ name: jobNames(jobId).configMap, namespace: env.namespaces.jobs }),
    ).rejects.toMatchObject({ code: 404 });
    expect((await fetch(`${url}/api/services/compute?consumerAddress=${consumer.address}&jobId=${jobId}`)).status).toBe(
      404,
    );
    expect((await post('/api/services/compute', body, 'DELETE')).status).toBe(401);
  });
});

describe('start and initializeCompute refuse with the reason', () => {
  let algorithm: PublishedAsset;
  let dataset: PublishedAsset;

  beforeAll(async () => {
    algorithm = (await publishAlgorithm()).asset;
    dataset = (await publishDataset([{ asset: algorithm, code: ALGORITHM }])).asset;
  });

  async function refusal(res: Response): Promise<{ status: number; code?: string; field?: string; error: string }> {
    return { status: res.status, ...((await res.json()) as { code?: string; field?: string; error: string }) };
  }

  it('an algorithm the dataset does not trust', async () => {
    const untrusted = (await publishAlgorithm('console.log("not trusted")')).asset;
    const res = await post('/api/services/initializeCompute', {
      datasets: [ref(dataset)],
      algorithm: ref(untrusted),
      compute: { env: stack.environmentId, validUntil: now() + 900 },
      consumerAddress: consumer.address,
    });
    expect(await refusal(res)).toMatchObject({
      status: 403,
      code: 'ALGORITHM_NOT_TRUSTED',
      field: 'algorithm.documentId',
    });
  });

  it('a raw algorithm where the dataset allows none', async () => {
    const res = await post('/api/services/initializeCompute', {
      datasets: [ref(dataset)],
      algorithm: { meta: { rawcode: 'console.log(1)', container: CONTAINER } },
      compute: { env: stack.environmentId, validUntil: now() + 900 },
      consumerAddress: consumer.address,
    });
    expect(await refusal(res)).toMatchObject({
      status: 403,
      code: 'RAW_ALGORITHM_NOT_ALLOWED',
      field: 'algorithm.meta',
    });
  });

  it('an unknown environment and a DID no NFT has', async () => {
    const unknownEnv = await post('/api/services/initializeCompute', {
      datasets: [ref(dataset)],
      algorithm: ref(algorithm),
      compute: { env: 'no-such-env', validUntil: now() + 900 },
      consumerAddress: consumer.address,
    });
    expect(await refusal(unknownEnv)).toMatchObject({ status: 400, field: 'compute.env' });
    const unknownDid = await post('/api/services/initializeCompute', {
      datasets: [{ documentId: 'did:op:' + 'ab'.repeat(32), serviceId: 'compute-0' }],
      algorithm: ref(algorithm),
      compute: { env: stack.environmentId, validUntil: now() + 900 },
      consumerAddress: consumer.address,
    });
    expect(await refusal(unknownDid)).toMatchObject({
      status: 403,
      code: 'DDO_NOT_FOUND',
      field: 'datasets.0.documentId',
    });
  });

  it("orders placed for someone else, and an order that is not the dataset's", async () => {
    const orders = await initializeAndOrder(dataset, algorithm);
    const byOther = await post('/api/services/compute', await startBody(other, dataset, algorithm, orders));
    expect(await refusal(byOther)).toMatchObject({
      status: 403,
      code: 'ORDER_WRONG_CONSUMER',
      field: 'dataset.transferTxId',
    });
    const swapped = await post(
      '/api/services/compute',
      await startBody(consumer, dataset, algorithm, { datasetTx: orders.algorithmTx, algorithmTx: orders.algorithmTx }),
    );
    expect(await refusal(swapped)).toMatchObject({
      status: 403,
      code: 'ORDER_WRONG_DATATOKEN',
      field: 'dataset.transferTxId',
    });
    // Nothing was stored for the refused requests: no job of the consumer stands on these orders.
    const jobs = (await ProviderInstance.computeStatus(url, consumer.address)) as unknown as { agreementId: string }[];
    expect(jobs.map((j) => j.agreementId)).not.toContain(orders.datasetTx.toLowerCase());
  });

  it('a fee that does not pay for the job: validUntil too close', async () => {
    const orders = await initializeAndOrder(dataset, algorithm, now() + 30);
    const res = await post('/api/services/compute', await startBody(consumer, dataset, algorithm, orders));
    expect(await refusal(res)).toMatchObject({
      status: 403,
      code: 'PROVIDER_FEE_EXPIRED',
      field: 'dataset.transferTxId',
    });
  });
});

describe('bad input', () => {
  it('answers 200+ malformed requests across every endpoint with 4xx and stays healthy', async () => {
    const a = consumer.address;
    const j = newJobId();
    const did = 'did:op:' + 'a1'.repeat(32);
    const tx = '0x' + 'b2'.repeat(32);
    const sig = '0x' + '11'.repeat(65);
    const asset = { documentId: did, serviceId: 'compute-0', transferTxId: tx };
    const bodies: unknown[] = [
      null,
      1,
      'x',
      [],
      {},
      { consumerAddress: 'nope' },
      { consumerAddress: a },
      { consumerAddress: a, nonce: 'x' },
      { consumerAddress: a, nonce: '1', signature: 'zz' },
      { consumerAddress: a, nonce: '1', signature: sig, jobId: '../x' },
      { consumerAddress: a, nonce: '1', signature: sig, jobId: j },
      { dataset: 'x' },
      { dataset: { documentId: 1 } },
      { consumerAddress: a, nonce: -1, signature: sig },
      { consumerAddress: a, nonce: 1e20, signature: sig },
      { consumerAddress: a.toLowerCase().replace('a', 'A'), nonce: '1', signature: sig },
      { dataset: asset, algorithm: {}, environment: 'local-default', consumerAddress: a, nonce: '1', signature: sig },
      {
        dataset: asset,
        algorithm: { documentId: did, meta: {} },
        environment: 'x',
        consumerAddress: a,
        nonce: '1',
        signature: sig,
      },
      {
        dataset: asset,
        algorithm: { ...asset, documentId: 'did:op:' + 'c3'.repeat(32) },
        additionalDatasets: [asset],
        environment: 'local-default',
        consumerAddress: a,
        nonce: '1',
        signature: sig,
      },
      {
        dataset: { ...asset, transferTxId: '0x12' },
        algorithm: asset,
        environment: 'local-default',
        consumerAddress: a,
        nonce: '1',
        signature: sig,
      },
      { dataset: asset, algorithm: asset, environment: 'Bad_Env', consumerAddress: a, nonce: '1', signature: sig },
      {
        dataset: asset,
        algorithm: asset,
        environment: 'local-default',
        consumerAddress: a,
        nonce: '1',
        signature: sig,
      },
      { datasets: [], algorithm: {}, compute: {}, consumerAddress: a },
      { compute: { env: 'UPPER', validUntil: 1 } },
      { datasets: [asset], algorithm: asset, compute: { env: 'local-default', validUntil: 1.5 }, consumerAddress: a },
      {
        datasets: [asset, asset],
        algorithm: asset,
        compute: { env: 'local-default', validUntil: now() + 60 },
        consumerAddress: a,
      },
      { datasets: [asset], algorithm: asset, compute: { env: 'local-default', validUntil: 10 }, consumerAddress: a },
    ];
    const raw = ['', '{', '{"a":', 'null', '[]', '\u0000', '{"consumerAddress":"' + 'a'.repeat(5000) + '"}'];
    const queries = [
      '',
      '?consumerAddress=x',
      `?consumerAddress=${a}&jobId=XYZ`,
      `?consumerAddress=${a}&jobId=${j}&index=-1`,
      `?consumerAddress=${a}&consumerAddress=${a}`,
      `?userAddress=0x12`,
      `?chainId=abc`,
      `?chainId=999999`,
      `?consumerAddress=${a}&jobId=${j}&index=1&nonce=1&signature=${sig}`,
      `?consumerAddress=${a}&jobId=${j}&stage=build`,
      `?consumerAddress=${a}&jobId=${j}&stage=algorithm&nonce=1&signature=${sig}&follow=maybe`,
      '?%zz=1',
    ];
    const requests: { method: string; path: string; body?: string }[] = [];
    const bodyRoutes: [string, string][] = [
      ['POST', '/api/services/compute'],
      ['PUT', '/api/services/compute'],
      ['DELETE', '/api/services/compute'],
      ['POST', '/api/services/initializeCompute'],
    ];
    for (const [method, path] of bodyRoutes) {
      for (const b of bodies) requests.push({ method, path, body: JSON.stringify(b) });
      for (const b of raw) requests.push({ method, path, body: b });
    }
    for (const path of [
      '/api/services/compute',
      '/api/services/computeResult',
      '/api/services/computeLogs',
      '/api/services/nonce',
    ]) {
      for (const q of queries) requests.push({ method: 'GET', path: path + q });
    }
    // These two take only a chainId (and encrypt a body); other parameters are ignored, as in Ocean.
    for (const q of ['?chainId=abc', '?chainId=999999', '?chainId=-1', '?chainId=1&chainId=2']) {
      requests.push({ method: 'GET', path: '/api/services/computeEnvironments' + q });
      requests.push({ method: 'POST', path: '/api/services/encrypt' + q, body: 'x' });
    }
    for (const q of queries) requests.push({ method: 'POST', path: '/api/services/encrypt' + q, body: '' });
    requests.push({
      method: 'POST',
      path: '/api/services/compute',
      body: JSON.stringify({ pad: 'x'.repeat(200_000) }),
    });
    requests.push({
      method: 'POST',
      path: '/api/services/initializeCompute',
      body: JSON.stringify({ pad: 'x'.repeat(200_000) }),
    });
    requests.push({ method: 'PATCH', path: '/api/services/compute' }, { method: 'GET', path: '/../../etc/passwd' });
    expect(requests.length).toBeGreaterThanOrEqual(200);

    const answers = await Promise.all(
      requests.map(async (r) => {
        const res = await fetch(url + r.path, { method: r.method, ...(r.body !== undefined && { body: r.body }) });
        const text = await res.text();
        return { ...r, status: res.status, text };
      }),
    );
    const wrong = answers.filter((s) => s.status < 400 || s.status >= 500);
    expect(
      wrong.map(
        (w) =>
          `${w.method} ${w.path.slice(0, 80)} ${String(w.body).slice(0, 80)} → ${w.status} ${w.text.slice(0, 200)}`,
      ),
    ).toEqual([]);
    for (const answer of answers) expect(() => JSON.parse(answer.text), answer.path).not.toThrow();
    expect((await fetch(url + '/')).status).toBe(200);
  });
});

describe('each function alone under functions-framework, bundled as its image holds it', () => {
  let child: ChildProcess | undefined;
  const logDir = mkdtempSync(join(tmpdir(), 'c2d-ff-'));
  // Inside the repository, so that the bundle's one package import (functions-framework) resolves as in the image.
  const bundleDir = join(import.meta.dirname, '../../dist', `test-bundle-${process.pid}`);
  beforeAll(async () => {
    await bundleFunctions(FUNCTION_NAMES, bundleDir);
  }, 120_000);
  afterAll(() => {
    child?.kill('SIGTERM');
    rmSync(bundleDir, { recursive: true, force: true });
    if (!process.env.C2D_KEEP_STATE) rmSync(logDir, { recursive: true, force: true });
  });

  /** What each function answers a request that reaches it: its own answer, never the framework's 404. */
  const probes: Record<FunctionName, { query?: string; body?: unknown; expect: number }> = {
    info: { expect: 200 },
    nonce: { query: `?userAddress=${Wallet.createRandom().address}`, expect: 200 },
    start: { body: {}, expect: 400 },
    status: { query: `?consumerAddress=${Wallet.createRandom().address}`, expect: 200 },
    stop: { body: {}, expect: 400 },
    delete: { body: {}, expect: 400 },
    result: { query: '?jobId=x', expect: 400 },
    logs: { query: '?jobId=x', expect: 400 },
    environments: { expect: 200 },
    initialize: { body: {}, expect: 400 },
    encrypt: { body: { hello: 'world' }, expect: 200 },
    auth: { body: {}, expect: 400 },
  };

  /** Starts the function as its container does: plain node, functions-framework, the bundle. */
  async function spawnBundled(name: FunctionName): Promise<{ port: number; logFile: string; running: ChildProcess }> {
    const port = await freePort();
    const logFile = join(logDir, `${name}.log`);
    const out = openSync(logFile, 'w');
    child = spawn(
      process.execPath,
      [
        'node_modules/@google-cloud/functions-framework/build/src/main.js',
        `--source=${join(bundleDir, name, 'index.js')}`,
        `--target=${name}`,
      ],
      {
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          PORT: String(port),
          KUBECONFIG: env.kubeconfig,
          JOBS_NAMESPACE: env.namespaces.jobs,
          SYSTEM_NAMESPACE: env.namespaces.system,
          PROVIDER_URL: url,
          PROVIDER_KEY: env.keys.provider,
          RPC_URL: env.rpcUrl,
          CHAIN_ID: String(env.chainId),
          ERC721_FACTORY_ADDRESS: env.ocean.ERC721Factory,
          ...resultsStoreEnv(env.s3),
        },
        stdio: ['ignore', out, out],
      },
    );
    return { port, logFile, running: child };
  }

  const stop = (running: ChildProcess): Promise<void> => stopChild(running, 'the bundled function');

  /** Starts the function, waits for it to answer its route, and stops it again. */
  async function probe(name: FunctionName): Promise<number> {
    const { port, logFile, running } = await spawnBundled(name);
    try {
      const { method, path } = mountedEndpoints().find((e) => e.fn === name)!;
      const { query = '', body } = probes[name];
      let status = 0;
      await waitFor(
        `function ${name} (log: ${logFile})`,
        async () => {
          const res = await fetch(`http://127.0.0.1:${port}${path}${query}`, {
            method,
            signal: AbortSignal.timeout(5_000),
            ...(body !== undefined && { body: JSON.stringify(body) }),
          }).catch(() => undefined);
          if (!res) return false;
          await res.arrayBuffer();
          status = res.status;
          return true;
        },
        90_000,
        200,
      );
      return status;
    } finally {
      await stop(running);
    }
  }

  it('serves every function with --target=NAME on its own port', { timeout: 600_000 }, async () => {
    const answers: Partial<Record<FunctionName, number>> = {};
    for (const name of FUNCTION_NAMES) answers[name] = await probe(name);
    expect(answers).toEqual(Object.fromEntries(FUNCTION_NAMES.map((n) => [n, probes[n].expect])));
  });

  // The bundle keeps only the Kubernetes models the functions use (scripts/bundle-functions.ts; which ones is checked
  // by test/unit/images/bundle.test.ts): here a live pod is read, and its log followed, through the bundle.
  it(
    "streams a running algorithm's log from its pod through the bundled logs function",
    { timeout: 300_000 },
    async () => {
      const code = "console.log('live from the pod'); setTimeout(() => {}, 60000);\n";
      const algorithm = await publishAlgorithm(code);
      const dataset = await publishDataset([{ asset: algorithm.asset, code }]);
      const orders = await initializeAndOrder(dataset.asset, algorithm.asset);
      const started = await ProviderInstance.computeStart(
        url,
        consumer5,
        stack.environmentId,
        { ...ref(dataset.asset), transferTxId: orders.datasetTx },
        { ...ref(algorithm.asset), transferTxId: orders.algorithmTx },
      );
      const jobId = ((Array.isArray(started) ? started[0] : started) as unknown as OceanJob).jobId;
      const { port, logFile, running } = await spawnBundled('logs');
      try {
        await waitFor('the algorithm to run', async () => (await statusOf(jobId)).status === 40, 120_000, 200);
        let text = '';
        await waitFor(
          `the live log through the bundled function (log: ${logFile})`,
          async () => {
            const signed = new URL(await logsUrl(consumer, jobId, 'algorithm'));
            const res = await fetch(`http://127.0.0.1:${port}${signed.pathname}${signed.search}`, {
              signal: AbortSignal.timeout(10_000),
            }).catch(() => undefined);
            text = (await res?.text()) ?? '';
            return res?.status === 200 && text.includes('live from the pod');
          },
          60_000,
          500,
        );
        expect(text).toContain('live from the pod');
        // Still running: the log came from the pod, not from the store.
        expect((await statusOf(jobId)).status).toBe(40);
      } finally {
        await stop(running);
        await ProviderInstance.computeStop(dataset.asset.did, consumer.address, jobId, url, consumer5);
      }
    },
  );
});
