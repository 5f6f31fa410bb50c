import { createHash } from 'node:crypto';
import { getAddress, getBytes, hexlify, isAddress } from 'ethers';
import { z } from 'zod';
import { assertDidOfNft, isDid } from './did.ts';
import { AccessDenied, deny } from './errors.ts';
import { decompressXz } from './lzma.ts';

// ---------------------------------------------------------------------------------------------------------------
// Schema: the parts of an Ocean v4 DDO this provider relies on. Unknown keys are kept (the hash covers the bytes,
// not this view), known keys are checked strictly.
// ---------------------------------------------------------------------------------------------------------------

const address = z.string().refine((v) => isAddress(v), 'must be a 0x address');

const containerSchema = z.looseObject({
  entrypoint: z.string().min(1),
  image: z.string().min(1),
  tag: z.string().min(1),
  checksum: z.string(),
});

const algorithmMetadataSchema = z.looseObject({
  language: z.string().optional(),
  version: z.string().optional(),
  rawcode: z.string().optional(),
  container: containerSchema,
});

const metadataSchema = z.looseObject({
  type: z.enum(['dataset', 'algorithm']),
  name: z.string(),
  created: z.string().optional(),
  updated: z.string().optional(),
  description: z.string().optional(),
  author: z.string().optional(),
  license: z.string().optional(),
  algorithm: algorithmMetadataSchema.optional(),
});

const trustedAlgorithmSchema = z.looseObject({
  did: z.string().refine(isDid, 'must be a did:op DID'),
  filesChecksum: z.string(),
  containerSectionChecksum: z.string(),
});

const computeOptionsSchema = z.looseObject({
  allowRawAlgorithm: z.boolean().default(false),
  allowNetworkAccess: z.boolean().default(false),
  publisherTrustedAlgorithmPublishers: z.array(z.string()).default([]),
  publisherTrustedAlgorithms: z.array(trustedAlgorithmSchema).default([]),
});

const credentialsSchema = z.looseObject({
  allow: z.array(z.looseObject({ type: z.string(), values: z.array(z.string()) })).default([]),
  deny: z.array(z.looseObject({ type: z.string(), values: z.array(z.string()) })).default([]),
});

// ocean.js types `timeout` as a number; some publishers wrote it as a decimal string.
const timeout = z.union([z.number().int().nonnegative(), z.string().regex(/^\d+$/).transform(Number)]);

const serviceSchema = z.looseObject({
  id: z.string().min(1),
  type: z.string().min(1),
  // Encrypted hex as Ocean publishes it; a plain object is parsed too, and refused where files are needed.
  files: z.union([z.string(), z.record(z.string(), z.unknown())]),
  datatokenAddress: address,
  serviceEndpoint: z.string().min(1),
  timeout,
  name: z.string().optional(),
  compute: computeOptionsSchema.optional(),
  credentials: credentialsSchema.optional(),
});

const ddoSchema = z.looseObject({
  id: z.string().refine(isDid, 'must be a did:op DID'),
  version: z.string().optional(),
  chainId: z.number().int().positive(),
  nftAddress: address,
  metadata: metadataSchema,
  services: z
    .array(serviceSchema)
    .min(1)
    .refine((s) => new Set(s.map((x) => x.id)).size === s.length, 'service ids must be unique'),
  credentials: credentialsSchema.optional(),
});

export type Ddo = z.infer<typeof ddoSchema>;
export type DdoService = z.infer<typeof serviceSchema>;
export type ComputeOptions = z.infer<typeof computeOptionsSchema>;
export type AlgorithmContainer = z.infer<typeof containerSchema>;
export type Credentials = z.infer<typeof credentialsSchema>;

/** The DDO as published (`document`, the exact text whose hash is on chain) and its checked view. */
export interface ResolvedDdo {
  ddo: Ddo;
  document: string;
  /** sha256 of `document`, 0x-prefixed, as in the NFT's MetadataCreated/Updated event. */
  metaDataHash: string;
  nftAddress: string;
  chainId: number;
}

export function parseDdoDocument(document: string): Ddo {
  let json: unknown;
  try {
    json = JSON.parse(document);
  } catch {
    throw deny('DDO_INVALID', 'the DDO is not JSON');
  }
  const parsed = ddoSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? issue.path.map(String).join('.') : 'ddo';
    throw deny('DDO_INVALID', `the DDO is invalid at ${where}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

/** The DDO must describe the NFT it was read from, on this chain, under the DID that was asked for. */
export function checkDdoIdentity(ddo: Ddo, expected: { did: string; nftAddress: string; chainId: number }): void {
  if (ddo.id !== expected.did) {
    throw deny('DDO_IDENTITY_MISMATCH', `the DDO's id ${ddo.id} is not ${expected.did}`, 'documentId');
  }
  if (getAddress(ddo.nftAddress) !== getAddress(expected.nftAddress)) {
    throw deny('DDO_IDENTITY_MISMATCH', `the DDO names NFT ${ddo.nftAddress}, not ${expected.nftAddress}`);
  }
  if (ddo.chainId !== expected.chainId) {
    throw deny('DDO_IDENTITY_MISMATCH', `the DDO names chain ${ddo.chainId}, not ${expected.chainId}`);
  }
  assertDidOfNft(ddo.id, ddo.nftAddress, ddo.chainId);
}

// ---------------------------------------------------------------------------------------------------------------
// Metadata state, as ERC721Template.getMetaData() reports it.
// ---------------------------------------------------------------------------------------------------------------

const METADATA_STATE = {
  ACTIVE: 0,
  END_OF_LIFE: 1,
  DEPRECATED: 2,
  REVOKED: 3,
  ORDERING_DISABLED: 4,
  UNLISTED: 5,
} as const;

/**
 * Active assets may be used. Unlisted (5) only hides the asset from listings; Ocean documents it as still orderable,
 * so it is accepted too. Every other state refuses with its own code.
 */
export function checkMetadataState(state: number): void {
  switch (state) {
    case METADATA_STATE.ACTIVE:
    case METADATA_STATE.UNLISTED:
      return;
    case METADATA_STATE.END_OF_LIFE:
      throw deny('DDO_STATE_END_OF_LIFE', 'the asset has reached its end of life');
    case METADATA_STATE.DEPRECATED:
      throw deny('DDO_STATE_DEPRECATED', 'the asset is deprecated');
    case METADATA_STATE.REVOKED:
      throw deny('DDO_STATE_REVOKED', 'the asset was revoked by its publisher');
    case METADATA_STATE.ORDERING_DISABLED:
      throw deny('DDO_STATE_ORDERING_DISABLED', 'ordering this asset is temporarily disabled');
    default:
      throw deny('DDO_STATE_UNKNOWN', `the asset's metadata state ${state} is unknown`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The metadata payload of MetadataCreated / MetadataUpdated: flags, data, metaDataHash.
// ---------------------------------------------------------------------------------------------------------------

/** Flag bits as Ocean defines them (first byte of `flags`). */
const METADATA_FLAGS = { COMPRESSED: 1, ENCRYPTED: 2 } as const;

export interface MetadataPayload {
  flags: string;
  data: string;
  metaDataHash: string;
}

function sha256Hex0x(bytes: Uint8Array | string): string {
  return '0x' + createHash('sha256').update(bytes).digest('hex');
}

/**
 * The largest DDO accepted, in bytes; DDOs are a few kilobytes. It matters for compressed ones: a few hundred bytes of
 * .xz can expand to gigabytes.
 */
export const MAX_DDO_BYTES = 4 * 1024 * 1024;

/**
 * Turns the on-chain payload into the document text, the way Ocean's provider does: bit 2 set → ECIES-decrypt with
 * this provider's key; then bit 1 set → decompress (.xz, what Python's lzma.compress writes), in that order since
 * Ocean compresses before encrypting. The sha256 of the resulting plain bytes must equal `metaDataHash`.
 */
export async function decodeMetadataPayload(
  payload: MetadataPayload,
  decrypt: (data: Uint8Array) => Uint8Array,
  maxBytes = MAX_DDO_BYTES,
): Promise<string> {
  const flagBytes = getBytes(payload.flags);
  const flags = flagBytes.length === 0 ? 0 : (flagBytes[0] ?? 0);
  if ((flags & ~(METADATA_FLAGS.COMPRESSED | METADATA_FLAGS.ENCRYPTED)) !== 0) {
    throw deny('DDO_FLAGS_UNKNOWN', `the metadata flags 0x${flags.toString(16)} set bits Ocean does not define`);
  }
  let bytes = getBytes(payload.data);
  if (flags & METADATA_FLAGS.ENCRYPTED) {
    try {
      bytes = decrypt(bytes);
    } catch (err) {
      if (err instanceof AccessDenied) throw err;
      throw deny('DDO_NOT_DECRYPTABLE', 'the DDO is encrypted, but not to this provider');
    }
  }
  if (flags & METADATA_FLAGS.COMPRESSED) bytes = await decompressXz(bytes, maxBytes);
  if (bytes.length > maxBytes) throw deny('DDO_TOO_LARGE', `the DDO is larger than ${maxBytes} bytes`);
  if (sha256Hex0x(bytes) !== hexlify(payload.metaDataHash).toLowerCase()) {
    throw deny('DDO_HASH_MISMATCH', 'the DDO does not match the metaDataHash recorded on chain');
  }
  const document = new TextDecoder('utf-8', { fatal: true });
  try {
    return document.decode(bytes);
  } catch {
    throw deny('DDO_INVALID', 'the DDO is not UTF-8 text');
  }
}

// Fields an Aquarius-compatible cache adds to the published document; they are not part of the hashed bytes.
const CACHE_ADDED_KEYS = ['nft', 'datatokens', 'event', 'stats', 'purgatory', 'accessDetails', 'indexedMetadata'];

/**
 * The document text a metadata cache claims was published. A string is taken as the exact bytes; an object is what
 * Aquarius serves (the published JSON plus its own keys): those keys are dropped and the rest serialised the way
 * ocean.js serialises a DDO before hashing it (JSON.stringify, key order preserved).
 */
export function cachedDocumentText(cached: string | Record<string, unknown>): string {
  if (typeof cached === 'string') return cached;
  const published = Object.fromEntries(Object.entries(cached).filter(([k]) => !CACHE_ADDED_KEYS.includes(k)));
  return JSON.stringify(published);
}

/** A cached document is only used when its hash is the one on chain. */
export function checkCachedDocument(cached: string | Record<string, unknown>, metaDataHash: string): string {
  const text = cachedDocumentText(cached);
  if (sha256Hex0x(text) !== hexlify(metaDataHash).toLowerCase()) {
    throw deny('DDO_CACHE_HASH_MISMATCH', 'the cached DDO differs from the one recorded on chain');
  }
  return text;
}
