import { ZeroAddress, getBytes, hexlify, recoverAddress, hashMessage } from 'ethers';
import { describe, expect, it } from 'vitest';
import { decodeProviderData, providerFeeDigest, recoverProviderFeeSigner } from '../../../../lib/chain/provider-fee.ts';
import { checkFeePaid, feeAmount, feeTermsFor } from '../../../../lib/access/fees.ts';
import { checkValidUntil, issueProviderFee } from '../../../../lib/access/initialize.ts';
import type { ProviderFeeProof } from '../../../../lib/access/order.ts';
import { CHAIN_ID, DATASET_DT, providerKey } from './fixtures.ts';

const TOKEN = '0x5000000000000000000000000000000000000005';
const env = { id: 'small', fees: [{ chainId: CHAIN_ID, feeToken: TOKEN.toLowerCase(), pricePerMinute: '1000' }] };

describe('fee terms', () => {
  it('reads the price for this chain; none means free in the zero token', () => {
    expect(feeTermsFor(env, CHAIN_ID)).toEqual({ token: TOKEN, pricePerMinute: 1000n });
    expect(feeTermsFor(env, 1)).toEqual({ token: ZeroAddress, pricePerMinute: 0n });
  });

  it('charges every started minute', () => {
    const terms = feeTermsFor(env, CHAIN_ID);
    expect(feeAmount(terms, 60)).toBe(1000n);
    expect(feeAmount(terms, 61)).toBe(2000n);
    expect(feeAmount(terms, 0)).toBe(0n);
    expect(feeAmount({ token: ZeroAddress, pricePerMinute: 0n }, 600)).toBe(0n);
  });
});

describe('issueProviderFee', () => {
  const now = 1_700_000_000;
  const grant = {
    environmentId: 'small',
    datatoken: DATASET_DT,
    serviceId: 'compute-1',
    terms: feeTermsFor(env, CHAIN_ID),
    validUntil: now + 600,
    now,
  };

  it('signs a fee the contract would accept, naming environment, datatoken and service', () => {
    const fee = issueProviderFee(providerKey, { ...grant, charge: true });
    expect(fee.providerFeeAddress).toBe(providerKey.address);
    expect(fee.providerFeeToken).toBe(TOKEN);
    expect(fee.providerFeeAmount).toBe('10000');
    expect(fee.validUntil).toBe(now + 600);
    expect(decodeProviderData(fee.providerData)).toEqual({
      environment: 'small',
      timestamp: now,
      dt: DATASET_DT,
      id: 'compute-1',
    });
    expect(recoverProviderFeeSigner(fee)).toBe(providerKey.address);
    // what ERC20Template._checkProviderFee does: ecrecover(prefixed keccak(packed fields))
    const signer = recoverAddress(hashMessage(getBytes(providerFeeDigest(fee))), { v: fee.v, r: fee.r, s: fee.s });
    expect(signer).toBe(providerKey.address);
  });

  it('issues the fees of additional assets at 0', () => {
    expect(issueProviderFee(providerKey, { ...grant, charge: false }).providerFeeAmount).toBe('0');
  });
});

describe('checkFeePaid', () => {
  const terms = feeTermsFor(env, CHAIN_ID);
  const fee = (amount: bigint, over: Partial<ProviderFeeProof> = {}): ProviderFeeProof => ({
    providerFeeAddress: providerKey.address,
    providerFeeToken: TOKEN,
    providerFeeAmount: amount,
    providerData: { environment: 'small', timestamp: 1000, dt: DATASET_DT, id: 'compute-1' },
    validUntil: 1000 + 300,
    ...over,
  });

  it('passes when one fee paid the price of its period', () => {
    expect(() => checkFeePaid([fee(0n), fee(5000n)], terms)).not.toThrow();
    expect(() => checkFeePaid([fee(0n)], { token: ZeroAddress, pricePerMinute: 0n })).not.toThrow();
  });

  it.each([
    ['too little', [fee(4999n)]],
    ['another token', [fee(5000n, { providerFeeToken: hexlify(new Uint8Array(20).fill(9)) })]],
    ['no expiry on a priced environment', [fee(5000n, { validUntil: 0 })]],
    ['nothing', []],
  ])('refuses %s with PROVIDER_FEE_NOT_PAID', (_, fees) => {
    expect(() => checkFeePaid(fees, terms)).toThrow(expect.objectContaining({ code: 'PROVIDER_FEE_NOT_PAID' }));
  });
});

describe('checkValidUntil', () => {
  it('wants unix seconds in the future, within a year', () => {
    expect(() => checkValidUntil(1001, 1000)).not.toThrow();
    for (const bad of [1000, 999, 1.5, 1000 + 400 * 24 * 3600]) {
      expect(() => checkValidUntil(bad, 1000)).toThrow(
        expect.objectContaining({ code: 'VALID_UNTIL_INVALID', httpStatus: 400 }),
      );
    }
  });
});
