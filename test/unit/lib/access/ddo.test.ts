import { getBytes, hexlify, sha256, toUtf8Bytes } from 'ethers';
import { describe, expect, it } from 'vitest';
import {
  cachedDocumentText,
  checkCachedDocument,
  checkDdoIdentity,
  checkMetadataState,
  decodeMetadataPayload,
  MAX_DDO_BYTES,
  parseDdoDocument,
} from '../../../../lib/access/ddo.ts';
import { eciesDecrypt, eciesEncrypt } from '../../../../lib/access/ecies.ts';
import { CHAIN_ID, DATASET_NFT, datasetDdo, otherKey, providerKey } from './fixtures.ts';
import { LZMA_ALONE, XZ_BOMB_5_MIB, XZ_DEFAULT, XZ_DOCUMENT } from './xz-fixtures.ts';

const decrypt = (data: Uint8Array) => eciesDecrypt(providerKey.privateKey, data);
const document = JSON.stringify(datasetDdo());
const bytes = toUtf8Bytes(document);

describe('decodeMetadataPayload', () => {
  const payload = (flags: string, data: string | Uint8Array, hashed: Uint8Array | string = bytes) => ({
    flags,
    data: hexlify(data),
    metaDataHash: sha256(typeof hashed === 'string' ? toUtf8Bytes(hashed) : hashed),
  });

  it('reads a plain document (flags 0) whose sha256 is the metaDataHash', async () => {
    expect(await decodeMetadataPayload(payload('0x00', bytes), decrypt)).toBe(document);
  });

  it('treats empty flags as 0', async () => {
    expect(await decodeMetadataPayload(payload('0x', bytes), decrypt)).toBe(document);
  });

  it('decrypts a document encrypted to this provider (flags 2)', async () => {
    const data = eciesEncrypt(providerKey.signingKey.publicKey, bytes);
    expect(await decodeMetadataPayload(payload('0x02', data), decrypt)).toBe(document);
  });

  it('refuses a document encrypted to another provider', async () => {
    const data = eciesEncrypt(otherKey.signingKey.publicKey, bytes);
    await expect(decodeMetadataPayload(payload('0x02', data), decrypt)).rejects.toMatchObject({
      code: 'DDO_NOT_DECRYPTABLE',
    });
  });

  it("decompresses a document compressed by Python's lzma.compress (flags 1), hashing the plain JSON", async () => {
    expect(await decodeMetadataPayload(payload('0x01', XZ_DEFAULT, XZ_DOCUMENT), decrypt)).toBe(XZ_DOCUMENT);
  });

  it('decrypts, then decompresses, a document compressed and then encrypted (flags 3), as Ocean publishes it', async () => {
    const data = eciesEncrypt(providerKey.signingKey.publicKey, getBytes(XZ_DEFAULT));
    expect(await decodeMetadataPayload(payload('0x03', data, XZ_DOCUMENT), decrypt)).toBe(XZ_DOCUMENT);
    const other = eciesEncrypt(otherKey.signingKey.publicKey, getBytes(XZ_DEFAULT));
    await expect(decodeMetadataPayload(payload('0x03', other, XZ_DOCUMENT), decrypt)).rejects.toMatchObject({
      code: 'DDO_NOT_DECRYPTABLE',
    });
  });

  it('checks the hash over the decompressed bytes, not the compressed ones', async () => {
    await expect(
      decodeMetadataPayload(payload('0x01', XZ_DEFAULT, getBytes(XZ_DEFAULT)), decrypt),
    ).rejects.toMatchObject({
      code: 'DDO_HASH_MISMATCH',
    });
  });

  it('refuses a compressed flag on data that is not compressed, or compressed in an unsupported way', async () => {
    await expect(decodeMetadataPayload(payload('0x01', bytes), decrypt)).rejects.toMatchObject({
      code: 'DDO_COMPRESSED_UNSUPPORTED',
    });
    await expect(decodeMetadataPayload(payload('0x01', LZMA_ALONE, XZ_DOCUMENT), decrypt)).rejects.toMatchObject({
      code: 'DDO_COMPRESSED_UNSUPPORTED',
    });
    const truncated = getBytes(XZ_DEFAULT).slice(0, 100);
    await expect(decodeMetadataPayload(payload('0x01', truncated, XZ_DOCUMENT), decrypt)).rejects.toMatchObject({
      code: 'DDO_NOT_DECOMPRESSABLE',
    });
  });

  it('refuses a document that expands beyond the cap (a decompression bomb)', async () => {
    const spaces = toUtf8Bytes(' '.repeat(5 * 1024 * 1024));
    await expect(decodeMetadataPayload(payload('0x01', XZ_BOMB_5_MIB, spaces), decrypt)).rejects.toMatchObject({
      code: 'DDO_TOO_LARGE',
      httpStatus: 403,
    });
    expect(MAX_DDO_BYTES).toBeLessThan(spaces.length);
    await expect(decodeMetadataPayload(payload('0x00', bytes), decrypt, bytes.length - 1)).rejects.toMatchObject({
      code: 'DDO_TOO_LARGE',
    });
  });

  it('refuses flag bits Ocean does not define', async () => {
    await expect(decodeMetadataPayload(payload('0x04', bytes), decrypt)).rejects.toMatchObject({
      code: 'DDO_FLAGS_UNKNOWN',
    });
  });

  it('refuses a document that is not the one hashed on chain', async () => {
    const changed = toUtf8Bytes(document.replace('weather', 'weathe2'));
    await expect(decodeMetadataPayload(payload('0x00', changed), decrypt)).rejects.toMatchObject({
      code: 'DDO_HASH_MISMATCH',
      httpStatus: 403,
    });
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
    [
      'bad datatoken',
      JSON.stringify({ ...datasetDdo(), services: [{ ...datasetDdo().services[0], datatokenAddress: '0x12' }] }),
    ],
    ['negative timeout', JSON.stringify({ ...datasetDdo(), services: [{ ...datasetDdo().services[0], timeout: -1 }] })],
    [
      'duplicate service ids',
      JSON.stringify({ ...datasetDdo(), services: [datasetDdo().services[0], datasetDdo().services[0]] }),
    ],
    ['bad id', JSON.stringify({ ...datasetDdo(), id: 'did:op:xyz' })],
    ['unknown metadata type', JSON.stringify({ ...datasetDdo(), metadata: { type: 'model', name: 'x' } })],
  ])('refuses %s with DDO_INVALID', (_, text) => {
    expect(() => parseDdoDocument(text)).toThrow(expect.objectContaining({ code: 'DDO_INVALID' }));
  });
});

describe('checkDdoIdentity', () => {
  const ddo = datasetDdo();
  it('accepts the DDO of its NFT and chain', () => {
    expect(() =>
      checkDdoIdentity(ddo, {
        did: ddo.id,
        nftAddress: DATASET_NFT.toUpperCase().replace('0X', '0x'),
        chainId: CHAIN_ID,
      }),
    ).not.toThrow();
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
    expect(() => checkCachedDocument(tampered, sha256(bytes))).toThrow(
      expect.objectContaining({ code: 'DDO_CACHE_HASH_MISMATCH' }),
    );
  });
});
