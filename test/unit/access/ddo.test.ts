import { hexlify, sha256, toUtf8Bytes } from 'ethers';
import { describe, expect, it } from 'vitest';
import {
  cachedDocumentText,
  checkCachedDocument,
  checkDdoIdentity,
  checkMetadataState,
  decodeMetadataPayload,
  parseDdoDocument,
} from '../../../lib/access/ddo.ts';
import { eciesDecrypt, eciesEncrypt } from '../../../lib/access/ecies.ts';
import { CHAIN_ID, DATASET_NFT, datasetDdo, otherKey, providerKey } from './fixtures.ts';

const decrypt = (data: Uint8Array) => eciesDecrypt(providerKey.privateKey, data);
const document = JSON.stringify(datasetDdo());
const bytes = toUtf8Bytes(document);

describe('decodeMetadataPayload', () => {
  it('reads a plain document (flags 0) whose sha256 is the metaDataHash', () => {
    expect(decodeMetadataPayload({ flags: '0x00', data: hexlify(bytes), metaDataHash: sha256(bytes) }, decrypt)).toBe(document);
  });

  it('treats empty flags as 0', () => {
    expect(decodeMetadataPayload({ flags: '0x', data: hexlify(bytes), metaDataHash: sha256(bytes) }, decrypt)).toBe(document);
  });

  it('decrypts a document encrypted to this provider (flags 2)', () => {
    const data = eciesEncrypt(providerKey.signingKey.publicKey, bytes);
    expect(decodeMetadataPayload({ flags: '0x02', data, metaDataHash: sha256(bytes) }, decrypt)).toBe(document);
  });

  it('refuses a document encrypted to another provider', () => {
    const data = eciesEncrypt(otherKey.signingKey.publicKey, bytes);
    expect(() => decodeMetadataPayload({ flags: '0x02', data, metaDataHash: sha256(bytes) }, decrypt)).toThrow(
      expect.objectContaining({ code: 'DDO_NOT_DECRYPTABLE' }),
    );
  });

  it('refuses compressed documents: no lzma implementation is installed', () => {
    expect(() => decodeMetadataPayload({ flags: '0x01', data: hexlify(bytes), metaDataHash: sha256(bytes) }, decrypt)).toThrow(
      expect.objectContaining({ code: 'DDO_COMPRESSED_UNSUPPORTED' }),
    );
    expect(() => decodeMetadataPayload({ flags: '0x03', data: hexlify(bytes), metaDataHash: sha256(bytes) }, decrypt)).toThrow(
      expect.objectContaining({ code: 'DDO_COMPRESSED_UNSUPPORTED' }),
    );
  });

  it('refuses flag bits Ocean does not define', () => {
    expect(() => decodeMetadataPayload({ flags: '0x04', data: hexlify(bytes), metaDataHash: sha256(bytes) }, decrypt)).toThrow(
      expect.objectContaining({ code: 'DDO_FLAGS_UNKNOWN' }),
    );
  });

  it('refuses a document that is not the one hashed on chain', () => {
    const changed = toUtf8Bytes(document.replace('weather', 'weathe2'));
    expect(() => decodeMetadataPayload({ flags: '0x00', data: hexlify(changed), metaDataHash: sha256(bytes) }, decrypt)).toThrow(
      expect.objectContaining({ code: 'DDO_HASH_MISMATCH', httpStatus: 403 }),
    );
  });
});

describe('parseDdoDocument', () => {
  it('parses a v4 DDO, keeping unknown keys and defaulting the compute options', () => {
    const ddo = datasetDdo();
    const raw = JSON.parse(JSON.stringify(ddo)) as Record<string, unknown> & { services: Record<string, unknown>[] };
    raw.extra = { kept: true };
    delete (raw.services[1] as { compute: Record<string, unknown> }).compute.publisherTrustedAlgorithms;
    raw.services[1]!.timeout = '60';
    const parsed = parseDdoDocument(JSON.stringify(raw));
    expect(parsed.extra).toEqual({ kept: true });
    expect(parsed.services[1]?.timeout).toBe(60);
    expect(parsed.services[1]?.compute?.publisherTrustedAlgorithms).toEqual([]);
  });

  it.each([
    ['not JSON', '{'],
    ['no services', JSON.stringify({ ...datasetDdo(), services: [] })],
    ['bad datatoken', JSON.stringify({ ...datasetDdo(), services: [{ ...datasetDdo().services[0], datatokenAddress: '0x12' }] })],
    ['negative timeout', JSON.stringify({ ...datasetDdo(), services: [{ ...datasetDdo().services[0], timeout: -1 }] })],
    ['duplicate service ids', JSON.stringify({ ...datasetDdo(), services: [datasetDdo().services[0], datasetDdo().services[0]] })],
    ['bad id', JSON.stringify({ ...datasetDdo(), id: 'did:op:xyz' })],
    ['unknown metadata type', JSON.stringify({ ...datasetDdo(), metadata: { type: 'model', name: 'x' } })],
  ])('refuses %s with DDO_INVALID', (_, text) => {
    expect(() => parseDdoDocument(text)).toThrow(expect.objectContaining({ code: 'DDO_INVALID' }));
  });
});

describe('checkDdoIdentity', () => {
  const ddo = datasetDdo();
  it('accepts the DDO of its NFT and chain', () => {
    expect(() => checkDdoIdentity(ddo, { did: ddo.id, nftAddress: DATASET_NFT.toUpperCase().replace('0X', '0x'), chainId: CHAIN_ID })).not.toThrow();
  });
  it.each([
    ['another DID', { did: 'did:op:' + '0'.repeat(64), nftAddress: DATASET_NFT, chainId: CHAIN_ID }],
    ['another NFT', { did: ddo.id, nftAddress: '0x9000000000000000000000000000000000000009', chainId: CHAIN_ID }],
    ['another chain', { did: ddo.id, nftAddress: DATASET_NFT, chainId: 1 }],
  ])('refuses %s', (_, expected) => {
    expect(() => checkDdoIdentity(ddo, expected)).toThrow(expect.objectContaining({ code: 'DDO_IDENTITY_MISMATCH' }));
  });
  it('refuses a DDO whose id is not the hash of its own NFT and chain', () => {
    const forged = { ...ddo, chainId: 1 };
    expect(() => checkDdoIdentity(forged, { did: ddo.id, nftAddress: DATASET_NFT, chainId: 1 })).toThrow(
      expect.objectContaining({ code: 'DID_MISMATCH' }),
    );
  });
});

describe('checkMetadataState', () => {
  it.each([0, 5])('accepts state %i', (state) => expect(() => checkMetadataState(state)).not.toThrow());
  it.each([
    [1, 'DDO_STATE_END_OF_LIFE'],
    [2, 'DDO_STATE_DEPRECATED'],
    [3, 'DDO_STATE_REVOKED'],
    [4, 'DDO_STATE_ORDERING_DISABLED'],
    [9, 'DDO_STATE_UNKNOWN'],
  ])('refuses state %i with %s', (state, code) => {
    expect(() => checkMetadataState(state)).toThrow(expect.objectContaining({ code, httpStatus: 403 }));
  });
});

describe('cached documents', () => {
  it('accepts the exact text, or an Aquarius object minus its own keys, when the hash is the chain one', () => {
    expect(checkCachedDocument(document, sha256(bytes))).toBe(document);
    const aquarius = { ...JSON.parse(document), nft: { state: 0 }, datatokens: [], event: { tx: '0x' }, stats: {} };
    expect(cachedDocumentText(aquarius)).toBe(document);
    expect(checkCachedDocument(aquarius, sha256(bytes))).toBe(document);
  });

  it('refuses a cached document that differs from the chain', () => {
    const tampered = { ...JSON.parse(document), metadata: { type: 'dataset', name: 'other' } };
    expect(() => checkCachedDocument(tampered, sha256(bytes))).toThrow(expect.objectContaining({ code: 'DDO_CACHE_HASH_MISMATCH' }));
  });
});
