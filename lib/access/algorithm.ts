import { getAddress } from 'ethers';
import { algorithmFileDigests, filesChecksumOf, type DownloadRules } from './algo-checksums.ts';
import type { ChainContext } from './chain-context.ts';
import { checkAlgorithmDdo, type PolicyContext, type PublishedAlgorithmFacts } from './compute-policy.ts';
import { erc721Template } from './contracts.ts';
import { deny } from './errors.ts';
import { resolveDdo, type ChainResolvedDdo, type ResolveOptions } from './resolve-ddo.ts';
import { callView } from './rpc.ts';
import { decryptServiceFiles, type FileAccess, type FileRules } from './service-files.ts';

/** Ocean's ERC721Template mints exactly one token, id 1, to the NFT's owner. */
const DATA_NFT_TOKEN_ID = 1n;

async function nftOwner(chain: ChainContext, nftAddress: string): Promise<string> {
  const result = await callView(
    chain.provider,
    nftAddress,
    erc721Template,
    'ownerOf',
    [DATA_NFT_TOKEN_ID],
    chain.rpcTimeoutMs,
  );
  const owner = result?.[0] as string | undefined;
  if (!owner) throw deny('DDO_NOT_FOUND', `data NFT ${nftAddress} has no owner`);
  return getAddress(owner);
}

export interface LoadedAlgorithm {
  resolved: ChainResolvedDdo;
  /** What the policy needs: the DDO and its publisher; the files checksum once `withFileDigests` downloaded them. */
  facts: PublishedAlgorithmFacts;
  /** The decrypted file locations: secret, for the job's Secret only. */
  files: FileAccess[];
}

/**
 * What the compute policy checks about a published algorithm without downloading anything: its DDO from the chain,
 * its NFT owner, its files decrypted (their URLs checked, not fetched).
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
  // The cheap refusals first: no decryption or download for an algorithm that cannot be permitted anyway.
  const { service } = checkAlgorithmDdo(resolved.ddo, serviceId, policy);
  const owner = await nftOwner(chain, resolved.nftAddress);
  const files = decryptServiceFiles(providerPrivateKey, resolved.ddo, service, rules);
  return { resolved, facts: { kind: 'published', ddo: resolved.ddo, serviceId, owner }, files };
}

/** A published algorithm is one file (the job runs one, lib/job/workflow.ts); more is refused before any download. */
export function checkOneFile(loaded: LoadedAlgorithm): void {
  if (loaded.files.length !== 1) {
    throw deny(
      'FILES_UNSUPPORTED',
      `algorithm ${loaded.facts.ddo.id} must consist of exactly one file`,
      'algorithm.documentId',
    );
  }
}

/**
 * Downloads the algorithm's file once: its digest (what the job pins for the configure pod) and the facts with the
 * recomputed filesChecksum.
 */
export async function withFileDigests(
  loaded: LoadedAlgorithm,
  rules: DownloadRules = {},
): Promise<{ facts: PublishedAlgorithmFacts; digests: string[] }> {
  checkOneFile(loaded);
  const digests = await algorithmFileDigests(loaded.files, rules);
  return { facts: { ...loaded.facts, filesChecksum: filesChecksumOf(digests) }, digests };
}
