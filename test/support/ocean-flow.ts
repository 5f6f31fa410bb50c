import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Wallet } from 'ethers';
import type { LocalStack } from '../../devcluster/local-stack.ts';
import {
  algorithmDdo,
  datasetDdo,
  orderAsset,
  publishAsset,
  type ComputeOptions,
  type OceanFile,
  type PublishedAsset,
} from '../../devcluster/ocean-assets.ts';
import { ProviderInstance, ethers5 } from '../../devcluster/ocean-client.ts';
import type { PlatformEnv } from '../../devcluster/platform-env.ts';
import { reachableBase, type ReachableBase } from './reachable-base.ts';
import type { ProviderFee } from '../../lib/chain/provider-fee.ts';
import { FINAL_CODES, type StatusCode } from '../../lib/job/status.ts';
import type { ProviderFees } from '../../node_modules/@oceanprotocol/lib/dist/types/@types/Provider.js';

/**
 * A publisher and a consumer going through the provider's API with ocean.js, for tests that attack the running
 * platform: a file server whose answers the test scripts, assets published and ordered on the local chain, jobs
 * started and followed to their final status.
 */

export const sha256hex = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
export const now = (): number => Math.floor(Date.now() / 1000);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A DDO's `container` for node:24, pinned by the digest the platform's node has for it. */
export function nodeContainer(env: PlatformEnv): {
  entrypoint: string;
  image: string;
  tag: string;
  checksum: string;
} {
  const checksum = env.algorithmImages['node:24'];
  if (!checksum) throw new Error('the platform has no node:24 image');
  return { entrypoint: 'node $ALGO', image: 'node', tag: '24', checksum };
}

export type Route = (req: IncomingMessage, res: ServerResponse) => void;

/** A file server on 127.0.0.1 (reachable from the job pods, see start) that answers each path as the test says, and counts what was asked. */
export class ScriptedFileServer {
  readonly hits = new Map<string, number>();
  #routes = new Map<string, Route>();
  #server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0]!;
    this.hits.set(path, (this.hits.get(path) ?? 0) + 1);
    const route = this.#routes.get(path);
    if (route) route(req, res);
    else res.writeHead(404).end('not found');
  });
  port = 0;
  #reachable: ReachableBase = { base: '', stop: async () => undefined };

  /** Listens on 127.0.0.1; with `env`, reachable from the platform's job pods too (reachable-base.ts). */
  async start(env?: PlatformEnv): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.port = (this.#server.address() as { port: number }).port;
    this.#reachable = await reachableBase(env, this.port);
    return this;
  }

  get base(): string {
    return this.#reachable.base;
  }

  /** Serves `route` at `path`; returns the path's URL. */
  route(path: string, route: Route): string {
    this.#routes.set(path, route);
    return this.base + path;
  }

  /** Serves `body` at `path`. */
  file(path: string, body: string): string {
    return this.route(path, (_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(body));
  }

  hitsOf(path: string): number {
    return this.hits.get(path) ?? 0;
  }

  async stop(): Promise<void> {
    await this.#reachable.stop();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

export const ref = (asset: PublishedAsset) => ({ documentId: asset.did, serviceId: asset.ddo.services[0]!.id });

export interface Orders {
  datasetTx: string;
  algorithmTx: string;
}

export type OceanJob = {
  jobId: string;
  status: number;
  statusText: string;
  results: { index?: number; filename: string; filesize: number; type: string }[];
};

/**
 * The publisher (env's publisher key), the consumer (env's consumer key) and the provider of one local stack, or of
 * any provider URL and compute environment (the Knative deployment of test/real-node/).
 */
export class OceanFlow {
  readonly provider: Wallet;
  readonly consumer: Wallet;

  constructor(
    readonly env: PlatformEnv,
    readonly stack: Pick<LocalStack, 'providerUrl' | 'environmentId'>,
  ) {
    this.provider = new Wallet(env.keys.provider);
    this.consumer = new Wallet(env.keys.consumer);
  }

  get url(): string {
    return this.stack.providerUrl;
  }

  async #publish(ddo: ReturnType<typeof datasetDdo>): Promise<PublishedAsset> {
    return publishAsset({
      rpcUrl: this.env.rpcUrl,
      ocean: this.env.ocean,
      publisherKey: this.env.keys.publisher,
      providerAddress: this.provider.address,
      encryptFilesTo: this.provider.signingKey.publicKey,
      mintTo: this.consumer.address,
      ddo,
    });
  }

  publishAlgorithm(urls: readonly string[], container = nodeContainer(this.env)): Promise<PublishedAsset> {
    const files: OceanFile[] = urls.map((url) => ({ type: 'url', url, method: 'GET' }));
    return this.#publish(
      algorithmDdo({ name: 'algorithm', files, serviceEndpoint: this.url, container, language: 'javascript' }),
    );
  }

  publishDataset(url: string, compute: Partial<ComputeOptions>): Promise<PublishedAsset> {
    return this.#publish(
      datasetDdo({ name: 'dataset', files: [{ type: 'url', url, method: 'GET' }], serviceEndpoint: this.url, compute }),
    );
  }

  /** initializeCompute as ocean.js posts it, answered as it is (refusals included). */
  initializeRaw(datasets: readonly PublishedAsset[], algorithm: PublishedAsset): Promise<Response> {
    return fetch(`${this.url}/api/services/initializeCompute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      signal: AbortSignal.timeout(30_000),
      body: JSON.stringify({
        datasets: datasets.map(ref),
        algorithm: ref(algorithm),
        compute: { env: this.stack.environmentId, validUntil: now() + 900 },
        consumerAddress: this.consumer.address,
      }),
    });
  }

  /** initializeCompute through ocean.js, then both orders on chain with the fees it returned. */
  async initializeAndOrder(dataset: PublishedAsset, algorithm: PublishedAsset): Promise<Orders> {
    const init = await ProviderInstance.initializeCompute(
      [ref(dataset)],
      ref(algorithm),
      this.stack.environmentId,
      now() + 1800,
      this.url,
      this.consumer.address,
    );
    const datasetFee = init.datasets?.[0]?.providerFee;
    const algoFee = init.algorithm?.providerFee;
    if (!datasetFee || !algoFee) throw new Error(`initializeCompute returned no fees: ${JSON.stringify(init)}`);
    const toFee = (f: ProviderFees): ProviderFee => ({
      ...f,
      v: Number(f.v),
      validUntil: Number(f.validUntil),
      providerFeeAmount: String(f.providerFeeAmount),
    });
    const order = (asset: PublishedAsset, fee: ProviderFee) =>
      orderAsset({
        rpcUrl: this.env.rpcUrl,
        consumerKey: this.env.keys.consumer,
        datatokenAddress: asset.datatokenAddresses[0]!,
        serviceIndex: 0,
        providerFee: fee,
      });
    return { datasetTx: await order(dataset, toFee(datasetFee)), algorithmTx: await order(algorithm, toFee(algoFee)) };
  }

  /** computeStart through ocean.js. */
  async start(dataset: PublishedAsset, algorithm: PublishedAsset, orders: Orders): Promise<OceanJob> {
    const signer = new ethers5.Wallet(this.env.keys.consumer, new ethers5.providers.JsonRpcProvider(this.env.rpcUrl));
    const started = await ProviderInstance.computeStart(
      this.url,
      signer,
      this.stack.environmentId,
      { ...ref(dataset), transferTxId: orders.datasetTx },
      { ...ref(algorithm), transferTxId: orders.algorithmTx },
    );
    return (Array.isArray(started) ? started[0] : started) as unknown as OceanJob;
  }

  async status(jobId: string): Promise<OceanJob> {
    const jobs = (await ProviderInstance.computeStatus(
      this.url,
      this.consumer.address,
      jobId,
    )) as unknown as OceanJob[];
    return jobs[0]!;
  }

  async untilFinished(jobId: string, timeoutMs = 180_000): Promise<OceanJob> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const job = await this.status(jobId);
      if (FINAL_CODES.has(job.status as StatusCode)) return job;
      if (Date.now() > deadline) throw new Error(`job ${jobId} still at ${job.status} ${job.statusText}`);
      await sleep(500);
    }
  }

  /** The text of one of the job's results, through the signed result URL. */
  async result(jobId: string, index: number): Promise<string> {
    const signer = new ethers5.Wallet(this.env.keys.consumer, new ethers5.providers.JsonRpcProvider(this.env.rpcUrl));
    const res = await fetch(await ProviderInstance.getComputeResultUrl(this.url, signer, jobId, index), {
      signal: AbortSignal.timeout(30_000),
    });
    if (!res.ok) throw new Error(`result ${index} of ${jobId}: HTTP ${res.status}`);
    return res.text();
  }
}
