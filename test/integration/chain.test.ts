import { decrypt } from 'eciesjs';
import {
  Contract,
  JsonRpcProvider,
  Wallet,
  getBytes,
  parseUnits,
  sha256,
  toUtf8String,
  type TransactionReceipt,
} from 'ethers';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { oceanArtifact } from '../../devcluster/chain.ts';
import {
  algorithmDdo,
  assetDid,
  datasetDdo,
  orderAsset,
  publishAsset,
  reuseOrder,
  type PublishedAsset,
} from '../../devcluster/ocean-assets.ts';
import {
  decodeProviderData,
  encodeProviderData,
  recoverProviderFeeSigner,
  signProviderFee,
  type ProviderFee,
} from '../../lib/chain/provider-fee.ts';

// Started once per run by test/support/platform-setup.ts.
const env = inject('platform');
const rpc = new JsonRpcProvider(env.rpcUrl, undefined, { staticNetwork: true, pollingInterval: 100 });
afterAll(() => rpc.destroy());

const provider = new Wallet(env.keys.provider);
const consumer = new Wallet(env.keys.consumer);
const other = new Wallet(env.keys.other);
const providerUrl = 'http://127.0.0.1:8030';
const datatokenAbi = oceanArtifact('ERC20Template').abi;
const nftAbi = oceanArtifact('ERC721Template').abi;

function eventsOf(receipt: TransactionReceipt, abi: typeof datatokenAbi, from: string, name: string) {
  const contract = new Contract(from, abi);
  return receipt.logs
    .filter((log) => log.address.toLowerCase() === from.toLowerCase())
    .map((log) => contract.interface.parseLog(log))
    .filter((parsed) => parsed?.name === name)
    .map((parsed) => parsed!.args);
}

async function receiptOf(txHash: string): Promise<TransactionReceipt> {
  const receipt = await rpc.getTransactionReceipt(txHash);
  if (!receipt) throw new Error(`no receipt for ${txHash}`);
  return receipt;
}

function publishDataset(): Promise<PublishedAsset> {
  return publishAsset({
    rpcUrl: env.rpcUrl,
    ocean: env.ocean,
    publisherKey: env.keys.publisher,
    ddo: datasetDdo({
      name: 'chain-test dataset',
      files: [{ type: 'url', url: 'https://example.org/data.csv', method: 'GET' }],
      serviceEndpoint: providerUrl,
      compute: { allowRawAlgorithm: true },
    }),
    encryptFilesTo: provider.signingKey.publicKey,
    providerAddress: provider.address,
    mintTo: consumer.address,
  });
}

function orderAs(datatokenAddress: string, providerFee: ProviderFee, consumerKey = env.keys.consumer): Promise<string> {
  return orderAsset({ rpcUrl: env.rpcUrl, consumerKey, datatokenAddress, serviceIndex: 0, providerFee });
}

function feeFor(asset: PublishedAsset, opts: { signer?: Wallet; amount?: bigint } = {}): ProviderFee {
  const now = Math.floor(Date.now() / 1000);
  const service = asset.ddo.services[0]!;
  return signProviderFee(opts.signer ?? provider, {
    providerFeeToken: env.ocean.Ocean!,
    providerFeeAmount: opts.amount ?? parseUnits('1', 18),
    providerData: encodeProviderData({
      environment: 'chain-test-env',
      timestamp: now,
      dt: service.datatokenAddress,
      id: service.id,
    }),
    validUntil: now + 3600,
  });
}

describe('Ocean contracts on the local chain', () => {
  it('runs on the dev chain id with the contracts deployed', async () => {
    expect(Number((await rpc.getNetwork()).chainId)).toBe(env.chainId);
    const names = ['Ocean', 'Router', 'FixedPrice', 'Dispenser', 'ERC721Template', 'ERC20Template', 'ERC721Factory'];
    for (const name of names) {
      const address = env.ocean[name];
      expect(address, name).toMatch(/^0x[0-9a-fA-F]{40}$/);
      expect(await rpc.getCode(address!), name).not.toBe('0x');
    }
  });

  it('publishes a dataset: NFT, DDO on chain with its hash, files encrypted to the provider', async () => {
    const asset = await publishDataset();
    expect(asset.did).toBe(assetDid(asset.nftAddress, env.chainId));
    expect(asset.ddo.id).toBe(asset.did);
    expect(asset.ddo.services[0]!.datatokenAddress).toBe(asset.datatokenAddresses[0]);

    const [created] = eventsOf(await receiptOf(asset.txHash), nftAbi, asset.nftAddress, 'MetadataCreated');
    expect(created).toBeDefined();
    const onChainJson = toUtf8String(created!.data as string);
    expect(JSON.parse(onChainJson)).toEqual(asset.ddo);
    expect(created!.metaDataHash).toBe(sha256(getBytes(created!.data as string)));
    expect(created!.flags).toBe('0x00');

    const files = asset.ddo.services[0]!.files as string;
    const plain = JSON.parse(decrypt(provider.privateKey.slice(2), getBytes(files)).toString('utf8'));
    expect(plain).toEqual({
      nftAddress: asset.nftAddress,
      datatokenAddress: asset.datatokenAddresses[0],
      files: [{ type: 'url', url: 'https://example.org/data.csv', method: 'GET' }],
    });

    const dt = new Contract(asset.datatokenAddresses[0]!, datatokenAbi, rpc);
    expect(await dt.getFunction('balanceOf')(consumer.address)).toBe(parseUnits('10', 18));
    expect((await dt.getFunction('getERC721Address')()).toLowerCase()).toBe(asset.nftAddress.toLowerCase());
  });

  it('gives every service of an asset its own datatoken of the same NFT', async () => {
    const ddo = datasetDdo({
      name: 'two-service dataset',
      files: [{ type: 'url', url: 'https://example.org/a.csv', method: 'GET' }],
      serviceEndpoint: providerUrl,
    });
    const access = datasetDdo({
      name: 'unused',
      files: [{ type: 'url', url: 'https://example.org/b.csv', method: 'GET' }],
      serviceEndpoint: providerUrl,
      serviceType: 'access',
    }).services[0]!;
    ddo.services.push(access);
    const asset = await publishAsset({
      rpcUrl: env.rpcUrl,
      ocean: env.ocean,
      publisherKey: env.keys.publisher,
      ddo,
      providerAddress: provider.address,
      mintTo: consumer.address,
      mintAmount: '2',
    });
    expect(asset.datatokenAddresses).toHaveLength(2);
    expect(new Set(asset.datatokenAddresses).size).toBe(2);
    for (const [i, address] of asset.datatokenAddresses.entries()) {
      const dt = new Contract(address, datatokenAbi, rpc);
      expect(await dt.getFunction('getERC721Address')()).toBe(asset.nftAddress);
      expect(await dt.getFunction('balanceOf')(consumer.address)).toBe(parseUnits('2', 18));
      expect(asset.ddo.services[i]!.datatokenAddress).toBe(address);
      // Without a provider key the files object stays plain, still bound to its NFT and datatoken.
      expect(asset.ddo.services[i]!.files).toMatchObject({ nftAddress: asset.nftAddress, datatokenAddress: address });
    }
  });

  it('orders with a fee: OrderStarted for the consumer, ProviderFee signed by the provider', async () => {
    const asset = await publishDataset();
    const datatoken = asset.datatokenAddresses[0]!;
    const fee = feeFor(asset);
    const ocean = new Contract(env.ocean.Ocean!, ['function balanceOf(address) view returns (uint256)'], rpc);
    const before = (await ocean.getFunction('balanceOf')(provider.address)) as bigint;

    const txHash = await orderAs(datatoken, fee);
    const receipt = await receiptOf(txHash);
    expect(receipt.status).toBe(1);

    const [order] = eventsOf(receipt, datatokenAbi, datatoken, 'OrderStarted');
    expect(order).toBeDefined();
    expect(order!.consumer).toBe(consumer.address);
    expect(order!.payer).toBe(consumer.address);
    expect(order!.amount).toBe(parseUnits('1', 18));
    expect(order!.serviceIndex).toBe(0n);

    const [feeEvent] = eventsOf(receipt, datatokenAbi, datatoken, 'ProviderFee');
    expect(feeEvent).toBeDefined();
    const fromEvent: ProviderFee = {
      providerFeeAddress: feeEvent!.providerFeeAddress as string,
      providerFeeToken: feeEvent!.providerFeeToken as string,
      providerFeeAmount: (feeEvent!.providerFeeAmount as bigint).toString(),
      providerData: feeEvent!.providerData as string,
      v: Number(feeEvent!.v),
      r: feeEvent!.r as string,
      s: feeEvent!.s as string,
      validUntil: Number(feeEvent!.validUntil),
    };
    expect(fromEvent).toEqual(fee);
    expect(recoverProviderFeeSigner(fromEvent)).toBe(provider.address);
    expect(decodeProviderData(fromEvent.providerData)).toMatchObject({ environment: 'chain-test-env', dt: datatoken });

    const after = (await ocean.getFunction('balanceOf')(provider.address)) as bigint;
    expect(after > before).toBe(true);
  });

  it('rejects on chain a fee not signed by the fee address, and an order without datatokens', async () => {
    const asset = await publishDataset();
    const datatoken = asset.datatokenAddresses[0]!;
    const forged = { ...feeFor(asset, { signer: other }), providerFeeAddress: provider.address };
    await expect(orderAs(datatoken, forged)).rejects.toThrow(/Invalid provider fee/);
    const free = feeFor(asset, { amount: 0n });
    await expect(orderAs(datatoken, free, env.keys.other)).rejects.toThrow(/Not enough datatokens/);
  });

  it('reuses an order with a fresh provider fee', async () => {
    const asset = await publishDataset();
    const datatoken = asset.datatokenAddresses[0]!;
    const orderTx = await orderAs(datatoken, feeFor(asset));
    const reuseTx = await reuseOrder({
      rpcUrl: env.rpcUrl,
      consumerKey: env.keys.consumer,
      datatokenAddress: datatoken,
      orderTxId: orderTx,
      providerFee: feeFor(asset),
    });
    const [reused] = eventsOf(await receiptOf(reuseTx), datatokenAbi, datatoken, 'OrderReused');
    expect(reused!.orderTxId).toBe(orderTx);
    expect(reused!.caller).toBe(consumer.address);
  });

  it('publishes an algorithm with its container and an encrypted DDO', async () => {
    const asset = await publishAsset({
      rpcUrl: env.rpcUrl,
      ocean: env.ocean,
      publisherKey: env.keys.publisher,
      ddo: algorithmDdo({
        name: 'chain-test algorithm',
        files: [{ type: 'url', url: 'https://example.org/algo.py', method: 'GET' }],
        serviceEndpoint: providerUrl,
        language: 'python',
        container: {
          entrypoint: 'python3 $ALGO',
          image: 'python',
          tag: '3.12',
          checksum: `sha256:${'ab'.repeat(32)}`,
        },
      }),
      encryptFilesTo: provider.signingKey.publicKey,
      encryptDdoTo: provider.signingKey.publicKey,
      providerAddress: provider.address,
    });
    const [created] = eventsOf(await receiptOf(asset.txHash), nftAbi, asset.nftAddress, 'MetadataCreated');
    expect(created!.flags).toBe('0x02');
    const ddoJson = decrypt(provider.privateKey.slice(2), getBytes(created!.data as string)).toString('utf8');
    expect(JSON.parse(ddoJson)).toEqual(asset.ddo);
    expect(created!.metaDataHash).toBe(sha256(Buffer.from(ddoJson, 'utf8')));
    expect(asset.ddo.metadata.algorithm?.container.image).toBe('python');
  });
});
