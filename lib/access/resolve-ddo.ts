import { ZeroAddress, getAddress, hexlify, isAddress } from 'ethers';
import type { ChainContext } from './chain-context.ts';
import { erc721Factory, erc721Template, topicOf } from './contracts.ts';
import {
  checkCachedDocument,
  checkDdoIdentity,
  checkMetadataState,
  decodeMetadataPayload,
  parseDdoDocument,
  type MetadataPayload,
  type ResolvedDdo,
} from './ddo.ts';
import { assertDidOfNft, didFromNft, parseDid } from './did.ts';
import { eciesDecrypt } from './ecies.ts';
import { deny } from './errors.ts';
import { callView, getLogs, rpc } from './rpc.ts';

/**
 * Resolves a DID to its DDO from the chain: the NFT the DID names (made by the known factory), its metadata state,
 * and the latest MetadataCreated/MetadataUpdated event's payload, decrypted and checked against its hash.
 */

// DID → NFT never changes (the DID is a hash of the address), so what a scan found stays true for the process.
interface FactoryIndex {
  scannedTo: number;
  nftByDid: Map<string, string>;
}
const indexes = new Map<string, FactoryIndex>();

/** The NFT (made by the known factory) whose DID this is, found by scanning the factory's NFTCreated events. */
async function locateNft(chain: ChainContext, did: string): Promise<string> {
  parseDid(did);
  const key = `${chain.chainId}:${getAddress(chain.factoryAddress)}`;
  let index = indexes.get(key);
  if (!index) {
    index = { scannedTo: (chain.fromBlock ?? 0) - 1, nftByDid: new Map() };
    indexes.set(key, index);
  }
  const known = index.nftByDid.get(did);
  if (known) return known;
  const latest = await rpc('eth_blockNumber', () => chain.provider.getBlockNumber(), chain.rpcTimeoutMs);
  // Nothing mined since the last scan: an empty range, which nodes refuse as fromBlock > toBlock.
  if (index.scannedTo >= latest) {
    throw deny('DDO_NOT_FOUND', `no data NFT made by the known factory has the DID ${did}`, 'documentId');
  }
  const logs = await getLogs(
    chain.provider,
    {
      address: chain.factoryAddress,
      topics: [topicOf(erc721Factory, 'NFTCreated')],
      fromBlock: index.scannedTo + 1,
      toBlock: latest,
      ...(chain.logBlockRange !== undefined && { blockRange: chain.logBlockRange }),
    },
    chain.rpcTimeoutMs,
  );
  for (const log of logs) {
    const parsed = erc721Factory.parseLog(log);
    const nft = parsed?.args.getValue('newTokenAddress') as string | undefined;
    if (nft) index.nftByDid.set(didFromNft(nft, chain.chainId), getAddress(nft));
    index.scannedTo = Math.max(index.scannedTo, log.blockNumber);
  }
  index.scannedTo = Math.max(index.scannedTo, latest);
  const found = index.nftByDid.get(did);
  if (!found) throw deny('DDO_NOT_FOUND', `no data NFT made by the known factory has the DID ${did}`, 'documentId');
  return found;
}

/** Refuses an NFT the known factory did not create. */
export async function assertNftFromFactory(chain: ChainContext, nftAddress: string, field?: string): Promise<void> {
  const listed = await callView(
    chain.provider,
    chain.factoryAddress,
    erc721Factory,
    'erc721List',
    [nftAddress],
    chain.rpcTimeoutMs,
  );
  const value = listed?.[0] as string | undefined;
  if (!value || value === ZeroAddress || getAddress(value) !== getAddress(nftAddress)) {
    throw deny('NFT_NOT_FROM_FACTORY', `NFT ${nftAddress} was not created by the known ERC721Factory`, field);
  }
}

interface NftMetadataState {
  state: number;
  hasMetadata: boolean;
}

async function readMetadataState(chain: ChainContext, nftAddress: string): Promise<NftMetadataState> {
  const result = await callView(chain.provider, nftAddress, erc721Template, 'getMetaData', [], chain.rpcTimeoutMs);
  if (!result) throw deny('DDO_NOT_FOUND', `${nftAddress} is not an Ocean data NFT`);
  return { state: Number(result[2]), hasMetadata: Boolean(result[3]) };
}

interface MetadataEvent extends MetadataPayload {
  event: 'MetadataCreated' | 'MetadataUpdated';
  transactionHash: string;
  blockNumber: number;
}

/** The NFT's latest MetadataCreated/MetadataUpdated event (the last one in chain order wins). */
async function latestMetadataEvent(chain: ChainContext, nftAddress: string): Promise<MetadataEvent> {
  const logs = await getLogs(
    chain.provider,
    {
      address: nftAddress,
      topics: [[topicOf(erc721Template, 'MetadataCreated'), topicOf(erc721Template, 'MetadataUpdated')]],
      fromBlock: chain.fromBlock ?? 0,
      ...(chain.logBlockRange !== undefined && { blockRange: chain.logBlockRange }),
    },
    chain.rpcTimeoutMs,
  );
  const ordered = [...logs].sort((a, b) => a.blockNumber - b.blockNumber || a.index - b.index);
  for (const log of ordered.reverse()) {
    const parsed = erc721Template.parseLog(log);
    if (parsed?.name !== 'MetadataCreated' && parsed?.name !== 'MetadataUpdated') continue;
    return {
      event: parsed.name,
      flags: hexlify(parsed.args.getValue('flags') as string),
      data: hexlify(parsed.args.getValue('data') as string),
      metaDataHash: hexlify(parsed.args.getValue('metaDataHash') as string),
      transactionHash: log.transactionHash,
      blockNumber: log.blockNumber,
    };
  }
  throw deny('DDO_NOT_FOUND', `NFT ${nftAddress} has no metadata on chain`);
}

export interface ResolveOptions {
  /** The NFT, when known (e.g. from a metadata cache); it must be the DID's NFT. Saves the factory scan. */
  nftAddress?: string;
  /**
   * The document an Aquarius-compatible cache served (its exact text, or the parsed object). It is used only if its
   * hash equals the chain's; then no decryption is needed.
   */
  cached?: string | Record<string, unknown>;
}

export interface ChainResolvedDdo extends ResolvedDdo {
  state: number;
  event: MetadataEvent;
}

/**
 * The DDO a DID names, as the chain records it. `providerPrivateKey` decrypts documents published encrypted to this
 * provider. Refusals: DID_MALFORMED, DID_MISMATCH, DDO_NOT_FOUND, NFT_NOT_FROM_FACTORY, DDO_STATE_*, DDO_FLAGS_UNKNOWN,
 * DDO_NOT_DECRYPTABLE, DDO_COMPRESSED_UNSUPPORTED, DDO_NOT_DECOMPRESSABLE, DDO_TOO_LARGE, DDO_HASH_MISMATCH,
 * DDO_CACHE_HASH_MISMATCH, DDO_INVALID, DDO_IDENTITY_MISMATCH; RPC trouble is ChainUnavailable.
 */
export async function resolveDdo(
  chain: ChainContext,
  providerPrivateKey: string,
  did: string,
  options: ResolveOptions = {},
): Promise<ChainResolvedDdo> {
  parseDid(did);
  const hinted = options.nftAddress ?? cachedNftAddress(options.cached);
  let nftAddress: string;
  if (hinted !== undefined) {
    if (!isAddress(hinted)) throw deny('ADDRESS_MALFORMED', `not an address: ${hinted}`, 'nftAddress');
    assertDidOfNft(did, hinted, chain.chainId);
    nftAddress = getAddress(hinted);
  } else {
    nftAddress = await locateNft(chain, did);
  }
  await assertNftFromFactory(chain, nftAddress);
  const { state, hasMetadata } = await readMetadataState(chain, nftAddress);
  if (!hasMetadata) throw deny('DDO_NOT_FOUND', `NFT ${nftAddress} has no metadata on chain`);
  checkMetadataState(state);
  const event = await latestMetadataEvent(chain, nftAddress);
  const document =
    options.cached !== undefined
      ? checkCachedDocument(options.cached, event.metaDataHash)
      : await decodeMetadataPayload(event, (data) => eciesDecrypt(providerPrivateKey, data));
  const ddo = parseDdoDocument(document);
  checkDdoIdentity(ddo, { did, nftAddress, chainId: chain.chainId });
  return {
    ddo,
    document,
    metaDataHash: event.metaDataHash.toLowerCase(),
    nftAddress,
    chainId: chain.chainId,
    state,
    event,
  };
}

function cachedNftAddress(cached: ResolveOptions['cached']): string | undefined {
  if (cached === undefined) return undefined;
  try {
    const doc = typeof cached === 'string' ? (JSON.parse(cached) as unknown) : cached;
    const nft = (doc as { nftAddress?: unknown } | null)?.nftAddress;
    return typeof nft === 'string' ? nft : undefined;
  } catch {
    return undefined;
  }
}
