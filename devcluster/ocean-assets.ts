/**
 * The publisher and the consumer of the local platform: publish Ocean v4 assets (data NFT, datatokens, DDO set on
 * chain) and order them, with real transactions through ethers. Used by integration tests and the demo.
 */
import { execFileSync } from 'node:child_process';
import { encrypt } from 'eciesjs';
import {
  Contract,
  ContractFactory,
  JsonRpcProvider,
  NonceManager,
  Wallet,
  ZeroAddress,
  getAddress,
  getBytes,
  hexlify,
  parseUnits,
  sha256,
  toUtf8Bytes,
  type InterfaceAbi,
  type TransactionReceipt,
  type Log,
} from 'ethers';
import type { ProviderFee } from '../lib/chain/provider-fee.ts';
import { oceanArtifact } from './chain.ts';
import { succeeded } from './receipts.ts';

export interface OceanFile {
  type: 'url';
  url: string;
  method: 'GET' | 'POST';
  headers?: Record<string, string>;
}

/** What Ocean encrypts into `services[].files`: the files, bound to the asset's NFT and the service's datatoken. */
interface OceanFilesObject {
  nftAddress: string;
  datatokenAddress: string;
  files: OceanFile[];
}

interface TrustedAlgorithm {
  did: string;
  filesChecksum: string;
  containerSectionChecksum: string;
}

export interface ComputeOptions {
  allowRawAlgorithm: boolean;
  allowNetworkAccess: boolean;
  publisherTrustedAlgorithmPublishers: string[];
  publisherTrustedAlgorithms: TrustedAlgorithm[];
}

export interface DdoService {
  id: string;
  type: 'compute' | 'access';
  /** Before publishing the plain file list; after, the encrypted hex string (or the plain files object). */
  files: OceanFile[] | OceanFilesObject | string;
  datatokenAddress: string;
  serviceEndpoint: string;
  /** Seconds an order stays valid; 0 means forever. */
  timeout: number;
  compute?: ComputeOptions;
}

export interface AlgorithmContainer {
  entrypoint: string;
  image: string;
  tag: string;
  /** Image digest, `sha256:<hex>`. */
  checksum: string;
}

interface DdoMetadata {
  created: string;
  updated: string;
  type: 'dataset' | 'algorithm';
  name: string;
  description: string;
  author: string;
  license: string;
  tags?: string[];
  algorithm?: { language: string; version: string; container: AlgorithmContainer };
}

/** An Ocean v4 DDO (the on-chain part; Aquarius adds nft/datatokens/stats, which this platform does not need). */
export interface Ddo {
  '@context': string[];
  id: string;
  version: string;
  chainId: number;
  nftAddress: string;
  metadata: DdoMetadata;
  services: DdoService[];
}

interface AssetBasics {
  name: string;
  description?: string;
  author?: string;
  license?: string;
  files: OceanFile[];
  /** The provider's URL, written to every service. */
  serviceEndpoint: string;
  serviceId?: string;
  timeout?: number;
}

// Ocean writes ISO timestamps without milliseconds.
const isoNow = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

function baseDdo(type: DdoMetadata['type'], a: AssetBasics): Ddo {
  const now = isoNow();
  return {
    '@context': ['https://w3id.org/did/v1'],
    id: '',
    version: '4.1.0',
    chainId: 0,
    nftAddress: '',
    metadata: {
      created: now,
      updated: now,
      type,
      name: a.name,
      description: a.description ?? a.name,
      author: a.author ?? 'c2d-knative dev',
      license: a.license ?? 'CC0-1.0',
    },
    services: [],
  };
}

/** A dataset DDO with one service (compute by default); id, chainId, nftAddress and datatoken are set on publish. */
export function datasetDdo(
  a: AssetBasics & { serviceType?: DdoService['type']; compute?: Partial<ComputeOptions> },
): Ddo {
  const ddo = baseDdo('dataset', a);
  const type = a.serviceType ?? 'compute';
  ddo.services.push({
    id: a.serviceId ?? `${type}-0`,
    type,
    files: a.files,
    datatokenAddress: '',
    serviceEndpoint: a.serviceEndpoint,
    timeout: a.timeout ?? 3600,
    ...(type === 'compute'
      ? {
          compute: {
            allowRawAlgorithm: false,
            allowNetworkAccess: false,
            publisherTrustedAlgorithmPublishers: [],
            publisherTrustedAlgorithms: [],
            ...a.compute,
          },
        }
      : {}),
  });
  return ddo;
}

/** An algorithm DDO with its container and one access service (as Ocean publishes algorithms for compute). */
export function algorithmDdo(
  a: AssetBasics & { container: AlgorithmContainer; language?: string; version?: string },
): Ddo {
  if (!/^sha256:[0-9a-f]{64}$/.test(a.container.checksum)) {
    throw new Error(`container checksum must be sha256:<64 hex>, got ${a.container.checksum}`);
  }
  const ddo = baseDdo('algorithm', a);
  ddo.metadata.algorithm = { language: a.language ?? '', version: a.version ?? '0.1', container: { ...a.container } };
  ddo.services.push({
    id: a.serviceId ?? 'access-0',
    type: 'access',
    files: a.files,
    datatokenAddress: '',
    serviceEndpoint: a.serviceEndpoint,
    timeout: a.timeout ?? 0,
  });
  return ddo;
}

/** Ocean's DID for a data NFT: did:op: + sha256(checksummed NFT address + decimal chain id). */
export function assetDid(nftAddress: string, chainId: number): string {
  return `did:op:${sha256(toUtf8Bytes(getAddress(nftAddress) + chainId.toString(10))).slice(2)}`;
}

/** ECIES-encrypts to a secp256k1 public key (hex, 64 or 65 bytes) as Ocean's provider `encrypt` does; 0x-hex out. */
function eciesEncryptHex(publicKeyHex: string, plaintext: Uint8Array): string {
  return hexlify(encrypt(publicKeyHex.replace(/^0x/, ''), plaintext));
}

async function withWallet<T>(
  rpcUrl: string,
  key: string,
  fn: (wallet: NonceManager, address: string) => Promise<T>,
): Promise<T> {
  const provider = new JsonRpcProvider(rpcUrl, undefined, { staticNetwork: true, pollingInterval: 100 });
  try {
    const wallet = new Wallet(key, provider);
    return await fn(new NonceManager(wallet), wallet.address);
  } finally {
    provider.destroy();
  }
}

async function call(contract: Contract, method: string, ...args: unknown[]): Promise<TransactionReceipt> {
  return succeeded(await contract.getFunction(method).send(...args), method);
}

function eventArgs(
  receipt: TransactionReceipt,
  abi: InterfaceAbi,
  event: string,
  from?: string,
): Record<string, unknown>[] {
  const contract = new Contract(ZeroAddress, abi);
  return receipt.logs
    .filter((log: Log) => !from || log.address.toLowerCase() === from.toLowerCase())
    .map((log: Log) => contract.interface.parseLog(log))
    .filter((parsed) => parsed?.name === event)
    .map((parsed) => parsed!.args.toObject());
}

const ERC20_APPROVE_ABI = ['function approve(address spender, uint256 amount) returns (bool)'];

export interface SetMetadataOptions {
  rpcUrl: string;
  publisherKey: string;
  nftAddress: string;
  ddo: Ddo;
  providerUrl: string;
  providerAddress: string;
  /** Ocean metadata state: 0 active, 1 end-of-life, 2 deprecated, 3 revoked, 4 ordering disabled, 5 unlisted. */
  state?: number;
  /** Provider public key: store the DDO ECIES-encrypted (flag bit 0x02) instead of plain (0x00). */
  encryptDdoTo?: string;
  /** Store the DDO lzma-compressed (flag bit 0x01); with encryptDdoTo, compressed first, then encrypted, as Ocean does. */
  compressDdo?: boolean;
}

/**
 * Python's `lzma.compress` (the .xz container, preset 6, CRC64): the exact bytes Ocean's Python publishers put on chain
 * for a compressed DDO. Needs `python3` (scripts/ensure-deps.sh installs it).
 */
export function lzmaCompress(data: Uint8Array): Uint8Array {
  const script = 'import lzma, sys; sys.stdout.buffer.write(lzma.compress(sys.stdin.buffer.read()))';
  return new Uint8Array(execFileSync('python3', ['-c', script], { input: data, maxBuffer: 64 * 1024 * 1024 }));
}

/**
 * `setMetaData` on the data NFT, as Ocean's publish flow does; the hash is sha256 of the plain DDO JSON, whatever the
 * flags. Returns the tx.
 */
export async function setAssetMetadata(o: SetMetadataOptions): Promise<string> {
  const json = toUtf8Bytes(JSON.stringify(o.ddo));
  let data: Uint8Array | string = o.compressDdo ? lzmaCompress(json) : json;
  if (o.encryptDdoTo) data = eciesEncryptHex(o.encryptDdoTo, getBytes(data));
  const flags = hexlify(Uint8Array.of((o.compressDdo ? 0x01 : 0) | (o.encryptDdoTo ? 0x02 : 0)));
  return withWallet(o.rpcUrl, o.publisherKey, async (publisher) => {
    const nft = new Contract(o.nftAddress, oceanArtifact('ERC721Template').abi, publisher);
    const args = [o.state ?? 0, o.providerUrl, o.providerAddress, flags, data, sha256(json), []];
    const receipt = await call(nft, 'setMetaData', ...args);
    return receipt.hash;
  });
}

export interface PublishOptions {
  rpcUrl: string;
  /** Deployed contract addresses by name (needs ERC721Factory). */
  ocean: Record<string, string>;
  publisherKey: string;
  /** From {@link datasetDdo} / {@link algorithmDdo}; each service's `files` is the plain list. */
  ddo: Ddo;
  /** Provider public key (hex): `services[].files` are encrypted to it. Without it they stay a plain object. */
  encryptFilesTo?: string;
  /** Metadata decryptor URL written on chain; defaults to the first service's endpoint. */
  providerUrl?: string;
  providerAddress: string;
  encryptDdoTo?: string;
  compressDdo?: boolean;
  /** Who receives freshly minted datatokens of every service, and how many (default 10). */
  mintTo?: string;
  mintAmount?: string;
}

export interface PublishedAsset {
  did: string;
  nftAddress: string;
  /** One per service, in service order. */
  datatokenAddresses: string[];
  ddo: Ddo;
  /** The setMetaData transaction. */
  txHash: string;
  createTxHash: string;
}

/**
 * Publishes an asset: data NFT with the first service's datatoken via the factory (templates 1), one more datatoken
 * per further service, the DDO completed with DID, chain, NFT and datatokens and files encrypted, set on chain,
 * then datatokens minted to `mintTo`.
 */
export async function publishAsset(o: PublishOptions): Promise<PublishedAsset> {
  const factoryAddress = o.ocean.ERC721Factory;
  if (!factoryAddress) throw new Error('ocean addresses lack ERC721Factory');
  if (o.ddo.services.length === 0) throw new Error('the DDO has no services');
  for (const service of o.ddo.services) {
    if (!Array.isArray(service.files)) throw new Error(`service ${service.id}: files must be the plain list`);
  }
  const factoryAbi = oceanArtifact('ERC721Factory').abi;
  const nftAbi = oceanArtifact('ERC721Template').abi;
  const dtAbi = oceanArtifact('ERC20Template').abi;

  const created = await withWallet(o.rpcUrl, o.publisherKey, async (publisher, publisherAddress) => {
    const { chainId } = await publisher.provider!.getNetwork();
    const factory = new Contract(factoryAddress, factoryAbi, publisher);
    const erc20Data = (i: number) => ({
      templateIndex: 1,
      strings: [`${o.ddo.metadata.name} DT${i}`, `DT${i}`],
      addresses: [publisherAddress, publisherAddress, ZeroAddress, ZeroAddress],
      uints: [parseUnits('1000000', 18), 0n],
      bytess: [],
    });
    const nftData = {
      name: o.ddo.metadata.name,
      symbol: 'DATA-NFT',
      templateIndex: 1,
      tokenURI: '',
      transferable: true,
      owner: publisherAddress,
    };
    const receipt = await call(factory, 'createNftWithErc20', nftData, erc20Data(0));
    const nftAddress = eventArgs(receipt, factoryAbi, 'NFTCreated', factoryAddress)[0]?.newTokenAddress as string;
    const first = eventArgs(receipt, factoryAbi, 'TokenCreated', factoryAddress)[0]?.newTokenAddress as string;
    if (!nftAddress || !first) throw new Error(`createNftWithErc20 ${receipt.hash} emitted no NFTCreated/TokenCreated`);
    const datatokens = [getAddress(first)];
    const nft = new Contract(nftAddress, nftAbi, publisher);
    for (let i = 1; i < o.ddo.services.length; i++) {
      const d = erc20Data(i);
      const r = await call(nft, 'createERC20', d.templateIndex, d.strings, d.addresses, d.uints, d.bytess);
      const token = eventArgs(r, factoryAbi, 'TokenCreated', factoryAddress)[0]?.newTokenAddress as string | undefined;
      if (!token) throw new Error(`createERC20 ${r.hash} emitted no TokenCreated`);
      datatokens.push(getAddress(token));
    }
    if (o.mintTo) {
      for (const dt of datatokens) {
        await call(new Contract(dt, dtAbi, publisher), 'mint', o.mintTo, parseUnits(o.mintAmount ?? '10', 18));
      }
    }
    return { chainId: Number(chainId), nftAddress: getAddress(nftAddress), datatokens, createTxHash: receipt.hash };
  });

  const published = await setAssetDdo({
    ...o,
    chainId: created.chainId,
    nftAddress: created.nftAddress,
    datatokenAddresses: created.datatokens,
  });
  return { ...published, createTxHash: created.createTxHash };
}

export type SetDdoOptions = Omit<PublishOptions, 'ocean' | 'mintTo' | 'mintAmount'> & {
  nftAddress: string;
  /** One per service, in service order. */
  datatokenAddresses: string[];
  /** Saves asking the chain. */
  chainId?: number;
};

/**
 * The second half of a publish, for tokens that already exist: the DDO completed with DID, chain, NFT and datatokens,
 * its files encrypted, and set on the NFT. Tests use it to point a DDO at tokens the factory did not pair with it.
 */
export async function setAssetDdo(o: SetDdoOptions): Promise<Omit<PublishedAsset, 'createTxHash'>> {
  const nftAddress = getAddress(o.nftAddress);
  const chainId =
    o.chainId ??
    (await withWallet(o.rpcUrl, o.publisherKey, async (publisher) =>
      Number((await publisher.provider!.getNetwork()).chainId),
    ));
  const ddo: Ddo = structuredClone(o.ddo);
  ddo.id = assetDid(nftAddress, chainId);
  ddo.chainId = chainId;
  ddo.nftAddress = nftAddress;
  ddo.services.forEach((service, i) => {
    const datatoken = o.datatokenAddresses[i];
    if (!datatoken) throw new Error(`no datatoken for service ${service.id}`);
    if (!Array.isArray(service.files)) throw new Error(`service ${service.id}: files must be the plain list`);
    service.datatokenAddress = getAddress(datatoken);
    const filesObject: OceanFilesObject = {
      nftAddress,
      datatokenAddress: service.datatokenAddress,
      files: service.files,
    };
    service.files = o.encryptFilesTo
      ? eciesEncryptHex(o.encryptFilesTo, toUtf8Bytes(JSON.stringify(filesObject)))
      : filesObject;
  });

  const txHash = await setAssetMetadata({
    rpcUrl: o.rpcUrl,
    publisherKey: o.publisherKey,
    nftAddress,
    ddo,
    providerUrl: o.providerUrl ?? ddo.services[0]!.serviceEndpoint,
    providerAddress: o.providerAddress,
    encryptDdoTo: o.encryptDdoTo,
    compressDdo: o.compressDdo,
  });
  return { did: ddo.id, nftAddress, datatokenAddresses: ddo.services.map((s) => s.datatokenAddress), ddo, txHash };
}

export interface OutsideFactoryOptions {
  rpcUrl: string;
  /** Deploys, and owns (NFT) or mints (datatoken). */
  deployerKey: string;
  /** Deployed contract addresses by name (a datatoken needs the Router, as its factory would pass). */
  ocean: Record<string, string>;
}

async function deployInitialized(
  o: OutsideFactoryOptions,
  name: 'ERC721Template' | 'ERC20Template',
  init: (deployer: string) => unknown[],
  after?: (contract: Contract, deployer: string) => Promise<void>,
): Promise<string> {
  return withWallet(o.rpcUrl, o.deployerKey, async (wallet, deployer) => {
    const { abi, bytecode } = oceanArtifact(name);
    const deployed = await new ContractFactory(abi, bytecode, wallet).deploy();
    const deployment = deployed.deploymentTransaction();
    if (!deployment) throw new Error(`deploying ${name}: no deployment transaction`);
    await succeeded(deployment, `deploying ${name}`);
    const contract = new Contract(await deployed.getAddress(), abi, wallet);
    await call(contract, 'initialize', ...init(deployer));
    await after?.(contract, deployer);
    return getAddress(await contract.getAddress());
  });
}

/**
 * Ocean's data NFT template deployed and initialized directly instead of cloned by the ERC721Factory: the same code
 * and events (setMetaData works; the deployer owns it), but no factory lists it. What the access checks must refuse.
 */
export function deployNftOutsideFactory(o: OutsideFactoryOptions): Promise<string> {
  const factory = o.ocean.ERC721Factory ?? ZeroAddress;
  return deployInitialized(o, 'ERC721Template', (deployer) => [
    deployer,
    'Look-alike NFT',
    'FAKE-NFT',
    factory,
    ZeroAddress,
    ZeroAddress,
    '',
    true,
  ]);
}

/**
 * Ocean's datatoken template deployed and initialized directly, naming `nftAddress` as its NFT: `startOrder` on it
 * emits the real OrderStarted and ProviderFee events, but the factory never made it. Mints to `mintTo` (default 10).
 */
export function deployDatatokenOutsideFactory(
  o: OutsideFactoryOptions & { nftAddress: string; mintTo?: string; mintAmount?: string },
): Promise<string> {
  const router = o.ocean.Router;
  if (!router) throw new Error('ocean addresses lack Router');
  return deployInitialized(
    o,
    'ERC20Template',
    (deployer) => [
      ['Look-alike DT', 'FAKE-DT'],
      [deployer, deployer, ZeroAddress, ZeroAddress],
      [o.nftAddress, router],
      [parseUnits('1000000', 18), 0n],
      [],
    ],
    async (dt) => {
      if (o.mintTo) await call(dt, 'mint', o.mintTo, parseUnits(o.mintAmount ?? '10', 18));
    },
  );
}

interface ConsumeMarketFee {
  consumeMarketFeeAddress: string;
  consumeMarketFeeToken: string;
  consumeMarketFeeAmount: string;
}

const NO_CONSUME_MARKET_FEE: ConsumeMarketFee = {
  consumeMarketFeeAddress: ZeroAddress,
  consumeMarketFeeToken: ZeroAddress,
  consumeMarketFeeAmount: '0',
};

async function approveIfCharged(signer: NonceManager, token: string, spender: string, amount: string): Promise<void> {
  if (BigInt(amount) === 0n || token === ZeroAddress) return;
  await call(new Contract(token, ERC20_APPROVE_ABI, signer), 'approve', spender, BigInt(amount));
}

function providerFeeStruct(fee: ProviderFee) {
  const { providerFeeAddress, providerFeeToken, providerFeeAmount, v, r, s, validUntil, providerData } = fee;
  return { providerFeeAddress, providerFeeToken, providerFeeAmount, v, r, s, validUntil, providerData };
}

export interface OrderOptions {
  rpcUrl: string;
  consumerKey: string;
  datatokenAddress: string;
  serviceIndex: number;
  providerFee: ProviderFee;
  consumeMarketFee?: ConsumeMarketFee;
  /** Who the order is for; defaults to the signer (who pays 1 datatoken). */
  consumer?: string;
}

/** `startOrder` on the datatoken (approving the fee tokens first when fees are charged); returns the tx hash. */
export async function orderAsset(o: OrderOptions): Promise<string> {
  const marketFee = o.consumeMarketFee ?? NO_CONSUME_MARKET_FEE;
  return withWallet(o.rpcUrl, o.consumerKey, async (payer, payerAddress) => {
    const { providerFee, datatokenAddress } = o;
    await approveIfCharged(payer, providerFee.providerFeeToken, datatokenAddress, providerFee.providerFeeAmount);
    await approveIfCharged(payer, marketFee.consumeMarketFeeToken, datatokenAddress, marketFee.consumeMarketFeeAmount);
    const dt = new Contract(datatokenAddress, oceanArtifact('ERC20Template').abi, payer);
    const consumer = o.consumer ?? payerAddress;
    const receipt = await call(dt, 'startOrder', consumer, o.serviceIndex, providerFeeStruct(providerFee), marketFee);
    return receipt.hash;
  });
}

/** `reuseOrder`: pays a fresh provider fee for an existing order (no new datatoken); returns the tx hash. */
export async function reuseOrder(o: {
  rpcUrl: string;
  consumerKey: string;
  datatokenAddress: string;
  orderTxId: string;
  providerFee: ProviderFee;
}): Promise<string> {
  return withWallet(o.rpcUrl, o.consumerKey, async (payer) => {
    await approveIfCharged(payer, o.providerFee.providerFeeToken, o.datatokenAddress, o.providerFee.providerFeeAmount);
    const dt = new Contract(o.datatokenAddress, oceanArtifact('ERC20Template').abi, payer);
    const receipt = await call(dt, 'reuseOrder', o.orderTxId, providerFeeStruct(o.providerFee));
    return receipt.hash;
  });
}
