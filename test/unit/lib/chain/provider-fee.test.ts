import {
  Wallet,
  concat,
  getBytes,
  hexlify,
  keccak256,
  toBeHex,
  toUtf8Bytes,
  verifyMessage,
  zeroPadValue,
} from 'ethers';
import { describe, expect, it } from 'vitest';
import {
  decodeProviderData,
  encodeProviderData,
  providerFeeDigest,
  recoverProviderFeeSigner,
  signProviderFee,
  type ProviderFee,
} from '../../../../lib/chain/provider-fee.ts';

// Fixed keys so the test is deterministic; generated for this test, hold nothing.
const provider = new Wallet('0x8d3fcd2e0bc9b1c6e3e3bfa9b3c51a5e2d8fe4e5b7f1c64bb77a8eac0f8d6a11');
const stranger = new Wallet('0x2b1f0a6e4c3d5b7a9e8f0d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a69788796a5b4');

const data = {
  environment: 'env-cpu-1',
  timestamp: 1_700_000_000,
  dt: '0x1111111111111111111111111111111111111111',
  id: 'svc-1',
};
const token = '0x2222222222222222222222222222222222222222';

function sign(): ProviderFee {
  return signProviderFee(provider, {
    providerFeeToken: token,
    providerFeeAmount: 10n ** 18n,
    providerData: encodeProviderData(data),
    validUntil: 1_700_003_600,
  });
}

describe('providerData', () => {
  it('is the 0x-hex of compact UTF-8 JSON and round-trips', () => {
    const hex = encodeProviderData(data);
    expect(hex).toBe(hexlify(toUtf8Bytes(JSON.stringify(data))));
    expect(decodeProviderData(hex)).toEqual(data);
  });

  it('keeps only the known fields, in a fixed order', () => {
    const hex = encodeProviderData({ id: 's', dt: '0xab', timestamp: 1, environment: 'e', extra: 'x' } as never);
    expect(Buffer.from(getBytes(hex)).toString('utf8')).toBe('{"environment":"e","timestamp":1,"dt":"0xab","id":"s"}');
  });

  it('rejects what is not the expected JSON object', () => {
    expect(() => decodeProviderData('not hex')).toThrow(/hex/);
    expect(() => decodeProviderData(hexlify(toUtf8Bytes('{')))).toThrow(/JSON/);
    expect(() => decodeProviderData(hexlify(toUtf8Bytes('[1]')))).toThrow(/environment/);
    expect(() => decodeProviderData(hexlify(toUtf8Bytes('null')))).toThrow(/object/);
    const noTime = hexlify(toUtf8Bytes(JSON.stringify({ ...data, timestamp: 'now' })));
    expect(() => decodeProviderData(noTime)).toThrow(/timestamp/);
  });
});

describe('provider fee signature', () => {
  it('digest is keccak256 of the packed fields in the contract order', () => {
    const fee = sign();
    const packed = concat([
      fee.providerData,
      fee.providerFeeAddress,
      fee.providerFeeToken,
      zeroPadValue(toBeHex(BigInt(fee.providerFeeAmount)), 32),
      zeroPadValue(toBeHex(fee.validUntil), 32),
    ]);
    expect(providerFeeDigest(fee)).toBe(keccak256(packed));
  });

  it('is an EIP-191 signature of the digest by the provider, which is the fee address', () => {
    const fee = sign();
    expect(fee.providerFeeAddress).toBe(provider.address);
    expect(fee.providerFeeAmount).toBe('1000000000000000000');
    expect([27, 28]).toContain(fee.v);
    expect(recoverProviderFeeSigner(fee)).toBe(provider.address);
    // The same signature, checked by ethers' own personal-message verification.
    const sig = { v: fee.v, r: fee.r, s: fee.s };
    expect(verifyMessage(getBytes(providerFeeDigest(fee)), sig)).toBe(provider.address);
  });

  it('recovers another address when a different key signs', () => {
    const fee = signProviderFee(stranger, {
      providerFeeToken: token,
      providerFeeAmount: '0',
      providerData: encodeProviderData(data),
      validUntil: 0,
    });
    expect(recoverProviderFeeSigner(fee)).toBe(stranger.address);
    expect(recoverProviderFeeSigner(fee)).not.toBe(provider.address);
  });

  const tampered: Array<[string, (f: ProviderFee) => ProviderFee]> = [
    ['providerData', (f) => ({ ...f, providerData: encodeProviderData({ ...data, environment: 'env-gpu' }) })],
    ['providerFeeAddress', (f) => ({ ...f, providerFeeAddress: stranger.address })],
    ['providerFeeToken', (f) => ({ ...f, providerFeeToken: '0x3333333333333333333333333333333333333333' })],
    ['providerFeeAmount', (f) => ({ ...f, providerFeeAmount: '1000000000000000001' })],
    ['validUntil', (f) => ({ ...f, validUntil: f.validUntil + 1 })],
    ['v', (f) => ({ ...f, v: f.v === 27 ? 28 : 27 })],
    ['r', (f) => ({ ...f, r: zeroPadValue(toBeHex(BigInt(f.r) ^ 1n), 32) })],
  ];
  for (const [field, tamper] of tampered) {
    it(`no longer recovers the provider when ${field} changes`, () => {
      const fee = sign();
      let recovered: string | undefined;
      try {
        recovered = recoverProviderFeeSigner(tamper(fee));
      } catch {
        recovered = undefined; // an unrecoverable signature is just as much a rejection
      }
      expect(recovered).not.toBe(provider.address);
    });
  }
});
