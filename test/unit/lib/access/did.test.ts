import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { assertDidOfNft, didFromNft, isDid, parseDid } from '../../../../lib/access/did.ts';
import { AccessDenied } from '../../../../lib/access/errors.ts';

describe('didFromNft', () => {
  it('hashes the checksummed address followed by the decimal chain id', () => {
    const lower = '0xd8da6bf26964af9d7eed9e03e53415d37aa96045';
    const expected = createHash('sha256')
      .update('0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045' + '8996')
      .digest('hex');
    expect(didFromNft(lower, 8996)).toBe(`did:op:${expected}`);
    expect(didFromNft(lower, 8996n)).toBe(`did:op:${expected}`);
    expect(didFromNft(lower, 1)).not.toBe(`did:op:${expected}`);
  });

  it('refuses a malformed address', () => {
    expect(() => didFromNft('0x1234', 1)).toThrow(expect.objectContaining({ code: 'ADDRESS_MALFORMED' }));
  });
});

describe('parseDid', () => {
  const id = 'a'.repeat(64);
  it('accepts did:op: + 64 lowercase hex', () => {
    expect(parseDid(`did:op:${id}`)).toEqual({ did: `did:op:${id}`, id });
    expect(isDid(`did:op:${id}`)).toBe(true);
  });

  it.each([
    ['uppercase hex', `did:op:${'A'.repeat(64)}`],
    ['short', `did:op:${'a'.repeat(63)}`],
    ['long', `did:op:${'a'.repeat(65)}`],
    ['other method', `did:ex:${id}`],
    ['0x prefix', `did:op:0x${'a'.repeat(62)}`],
    ['trailing newline', `did:op:${id}\n`],
    ['not a string', 42],
  ])('refuses %s with DID_MALFORMED (400)', (_, value) => {
    let error: unknown;
    try {
      parseDid(value, 'dataset.documentId');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(AccessDenied);
    expect(error).toMatchObject({ code: 'DID_MALFORMED', httpStatus: 400, field: 'dataset.documentId' });
  });
});

describe('assertDidOfNft', () => {
  it('refuses a DID of another NFT or chain with DID_MISMATCH (403)', () => {
    const nft = '0x1000000000000000000000000000000000000001';
    const did = didFromNft(nft, 8996);
    expect(() => assertDidOfNft(did, nft, 8996)).not.toThrow();
    expect(() => assertDidOfNft(did, nft, 1)).toThrow(
      expect.objectContaining({ code: 'DID_MISMATCH', httpStatus: 403 }),
    );
    expect(() => assertDidOfNft(did, '0x1000000000000000000000000000000000000002', 8996)).toThrow(
      expect.objectContaining({ code: 'DID_MISMATCH' }),
    );
  });
});
