import { getAddress } from 'ethers';
import { filesChecksum, type DownloadRules } from './algo-checksums.ts';
import type { ChainContext } from './chain-context.ts';
import { checkAlgorithmDdo, type PolicyContext, type PublishedAlgorithmFacts } from './compute-policy.ts';
import { erc721Template } from './contracts.ts';
import { deny } from './errors.ts';
import { resolveDdo, type ChainResolvedDdo, type ResolveOptions } from './resolve-ddo.ts';
import { callView } from './rpc.ts';
import { decryptServiceFiles, type FileAccess, type FileRules } from './service-files.ts';

/** Ocean's ERC721Template mints exactly one token, id 1, to the NFT's owner. */
const DATA_NFT_TOKEN_ID = 1n;

export async function nftOwner(chain: ChainContext, nftAddress: string): Promise<string> {
  const result = await callView(chain.provider, nftAddress, erc721Template, 'ownerOf', [DATA_NFT_TOKEN_ID], chain.rpcTimeoutMs);
  const owner = result?.[0] as string | undefined;
  if (!owner) throw deny('DDO_NOT_FOUND', `data NFT ${nftAddress} has no owner`);
  return getAddress(owner);
}

export interface LoadedAlgorithm {
  resolved: ChainResolvedDdo;
  /** What the policy needs: the DDO, its publisher, the files checksum recomputed from the files themselves. */
  facts: PublishedAlgorithmFacts;
  /** The decrypted file locations: secret, for the job's Secret only. */
  files: FileAccess[];
}

/**
 * Everything about a published algorithm that the compute policy checks and the job needs: its DDO from the chain,
 * its NFT owner, its files decrypted and downloaded once to recompute `filesChecksum`.
 */
export async function loadPublishedAlgorithm(
  chain: ChainContext,
  providerPrivateKey: string,
  did: string,
  serviceId: string,
  policy: PolicyContext,
  rules: FileRules & DownloadRules & ResolveOptions = {},
): Promise<LoadedAlgorithm> {
  const resolved = await resolveDdo(chain, providerPrivateKey, did, rules);
  // The cheap refusals first: no decryption or download for an algorithm that cannot be admitted anyway.
  const { service } = checkAlgorithmDdo(resolved.ddo, serviceId, policy);
  const owner = await nftOwner(chain, resolved.nftAddress);
  const files = decryptServiceFiles(providerPrivateKey, resolved.ddo, service, rules);
  const checksum = await filesChecksum(files, rules);
  return { resolved, facts: { kind: 'published', ddo: resolved.ddo, serviceId, owner, filesChecksum: checksum }, files };
}
