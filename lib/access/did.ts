import { createHash } from 'node:crypto';
import { getAddress, isAddress } from 'ethers';
import { deny } from './errors.ts';

const DID_PATTERN = /^did:op:([0-9a-f]{64})$/;

/** Ocean's v4 DID of a data NFT: `did:op:` + sha256(checksummed NFT address + decimal chain id), lowercase hex. */
export function didFromNft(nftAddress: string, chainId: number | bigint): string {
  if (!isAddress(nftAddress)) throw deny('ADDRESS_MALFORMED', `not an address: ${nftAddress}`, 'nftAddress');
  const preimage = getAddress(nftAddress) + BigInt(chainId).toString(10);
  return 'did:op:' + createHash('sha256').update(preimage, 'utf8').digest('hex');
}

/**
 * Parses a DID strictly: `did:op:` followed by exactly 64 lowercase hex digits, nothing else. Anything else is a
 * malformed request (400), never a lookup.
 */
export function parseDid(did: unknown, field = 'documentId'): { did: string; id: string } {
  if (typeof did !== 'string') throw deny('DID_MALFORMED', 'DID must be a string', field);
  const match = DID_PATTERN.exec(did);
  if (!match?.[1]) throw deny('DID_MALFORMED', 'DID must be did:op: followed by 64 lowercase hex digits', field);
  return { did, id: match[1] };
}

export function isDid(value: unknown): value is string {
  return typeof value === 'string' && DID_PATTERN.test(value);
}

/** Refuses unless `did` is the DID of `nftAddress` on `chainId`. */
export function assertDidOfNft(did: string, nftAddress: string, chainId: number | bigint, field = 'documentId'): void {
  if (didFromNft(nftAddress, chainId) !== did) {
    throw deny('DID_MISMATCH', `${did} is not the DID of NFT ${nftAddress} on chain ${chainId}`, field);
  }
}
