import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { Wallet, getBytes, keccak256, toUtf8Bytes } from 'ethers';
import type { LocalStack } from '../../devcluster/local-stack.ts';
import {
  algorithmDdo,
  datasetDdo,
  orderAsset,
  publishAsset,
  type PublishedAsset,
} from '../../devcluster/ocean-assets.ts';
import { ProviderInstance } from '../../devcluster/ocean-client.ts';
import type { PlatformEnv } from '../../devcluster/platform-env.ts';
import { containerSectionChecksum } from '../../lib/access/algo-checksums.ts';
import { nodeContainer } from './ocean-flow.ts';
import { reachableBase } from './reachable-base.ts';
import type { ProviderFee } from '../../lib/chain/provider-fee.ts';
import type { ProviderFees } from '../../node_modules/@oceanprotocol/lib/dist/types/@types/Provider.js';

/**
 * A dataset and a trusted algorithm published on the local chain against a running local stack, and as many pairs of
 * orders on them as a test wants: what a consumer needs before POSTing a compute start.
 */

const sha256hex = (s: string): string => createHash('sha256').update(s).digest('hex');
const ALGORITHM = "console.log('hello');\n";

export interface Orders {
  datasetTx: string;
  algorithmTx: string;
}

export interface ComputeAssets {
  dataset: PublishedAsset;
  algorithm: PublishedAsset;
  /** initializeCompute through ocean.js, then both orders on chain with the fees it quoted. */
  order(): Promise<Orders>;
  /** The body of a start on `orders`, signed by the consumer with `nonce`. */
  startBody(orders: Orders, nonce: bigint): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

/** ocean.js types the fee's numbers as strings; the provider answers numbers, which the contracts take either way. */
function toFee(f: ProviderFees): ProviderFee {
  return { ...f, v: Number(f.v), validUntil: Number(f.validUntil), providerFeeAmount: String(f.providerFeeAmount) };
}

export async function publishComputeAssets(env: PlatformEnv, stack: LocalStack): Promise<ComputeAssets> {
  const url = stack.providerUrl;
  const provider = new Wallet(env.keys.provider);
  const consumer = new Wallet(env.keys.consumer);
  // The publisher's storage: the provider fetches the algorithm from it to check its checksum.
  const files = new Map<string, string>();
  const server: Server = createServer((req, res) => {
    const body = files.get(req.url ?? '');
    res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'text/plain' }).end(body ?? 'not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const reachable = await reachableBase(env, (server.address() as { port: number }).port);
  const serve = (body: string): string => {
    const path = `/private-${randomBytes(8).toString('hex')}/file`;
    files.set(path, body);
    return `${reachable.base}${path}`;
  };
  const common = {
    rpcUrl: env.rpcUrl,
    ocean: env.ocean,
    publisherKey: env.keys.publisher,
    providerAddress: provider.address,
    encryptFilesTo: provider.signingKey.publicKey,
    mintTo: consumer.address,
    mintAmount: '100',
  };
  const algorithm = await publishAsset({
    ...common,
    ddo: algorithmDdo({
      name: 'hello',
      files: [{ type: 'url', url: serve(ALGORITHM), method: 'GET' }],
      serviceEndpoint: url,
      container: nodeContainer(env),
      language: 'javascript',
    }),
  });
  const dataset = await publishAsset({
    ...common,
    ddo: datasetDdo({
      name: 'numbers',
      files: [{ type: 'url', url: serve('1,2\n'), method: 'GET' }],
      serviceEndpoint: url,
      compute: {
        publisherTrustedAlgorithms: [
          {
            did: algorithm.did,
            filesChecksum: sha256hex(ALGORITHM),
            containerSectionChecksum: containerSectionChecksum(nodeContainer(env)),
          },
        ],
      },
    }),
  });
  const ref = (asset: PublishedAsset) => ({ documentId: asset.did, serviceId: asset.ddo.services[0]!.id });

  return {
    dataset,
    algorithm,
    async order() {
      const validUntil = Math.floor(Date.now() / 1000) + 1800;
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
      const order = (asset: PublishedAsset, fee: ProviderFees) =>
        orderAsset({
          rpcUrl: env.rpcUrl,
          consumerKey: env.keys.consumer,
          datatokenAddress: asset.datatokenAddresses[0]!,
          serviceIndex: 0,
          providerFee: toFee(fee),
        });
      return { datasetTx: await order(dataset, datasetFee), algorithmTx: await order(algorithm, algoFee) };
    },
    async startBody(orders, nonce) {
      // What ocean.js signs: an EIP-191 message over keccak256 of consumerAddress + dataset DID + nonce.
      const signature = await consumer.signMessage(
        getBytes(keccak256(toUtf8Bytes(`${consumer.address}${dataset.did}${nonce}`))),
      );
      return {
        consumerAddress: consumer.address,
        nonce: String(nonce),
        signature,
        environment: stack.environmentId,
        dataset: { ...ref(dataset), transferTxId: orders.datasetTx },
        algorithm: { ...ref(algorithm), transferTxId: orders.algorithmTx },
      };
    },
    close: async () => {
      await reachable.stop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
