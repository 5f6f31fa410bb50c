import { describe, expect, it } from 'vitest';
import {
  PricingError,
  billableMinutes,
  billedSeconds,
  costInTokenUnits,
  parseDecimal,
  pricesFor,
  toTokenUnits,
} from '../../../../lib/payment/pricing.ts';

const E18 = 10n ** 18n;

describe('pricing', () => {
  it.each([
    [0, 0n],
    [1, 1n],
    [60, 1n],
    [61, 2n],
    [125, 3n],
    [3600, 60n],
  ])('bills %s s as %s minutes (ceil)', (seconds, minutes) => {
    expect(billableMinutes(seconds)).toBe(minutes);
  });

  it("prices ocean-node's documented example exactly: 2 cpu, 4 GB ram, 10 GB disk, 1 gpu for 125 s = 27", () => {
    const prices = [
      { id: 'cpu', price: 1 },
      { id: 'ram', price: 0.5 },
      { id: 'disk', price: 0.2 },
      { id: 'myGPU', price: 3 },
    ];
    const resources = [
      { id: 'cpu', amount: 2 },
      { id: 'ram', amount: 4 },
      { id: 'disk', amount: 10 },
      { id: 'myGPU', amount: 1 },
    ];
    expect(costInTokenUnits(resources, prices, 125, 18)).toBe(27n * E18);
    expect(costInTokenUnits(resources, prices, 125, 0)).toBe(27n);
  });

  it('keeps decimal prices exact where floating point would not (0.1 × 3 × 1 min at 18 decimals)', () => {
    expect(0.1 * 3).not.toBe(0.3);
    expect(costInTokenUnits([{ id: 'cpu', amount: 3 }], [{ id: 'cpu', price: 0.1 }], 60, 18)).toBe(3n * 10n ** 17n);
  });

  it('leaves unpriced resources free and a missing price list at 0', () => {
    expect(costInTokenUnits([{ id: 'gpu', amount: 8 }], [{ id: 'cpu', price: 1 }], 600, 18)).toBe(0n);
  });

  it('rounds to the token unit half up, once, after summing', () => {
    // 0.0000004 + 0.0000004 = 0.0000008 → 1 unit at 6 decimals; rounding each term first would give 0.
    const prices = [
      { id: 'cpu', price: '0.0000004' },
      { id: 'ram', price: '0.0000004' },
    ];
    const resources = [
      { id: 'cpu', amount: 1 },
      { id: 'ram', amount: 1 },
    ];
    expect(costInTokenUnits(resources, prices, 60, 6)).toBe(1n);
    expect(toTokenUnits(parseDecimal('0.0000004', 'x'), 6)).toBe(0n);
    expect(toTokenUnits(parseDecimal('0.0000005', 'x'), 6)).toBe(1n);
  });

  it('reads exponent notation as JSON numbers print it', () => {
    expect(toTokenUnits(parseDecimal(1e-7, 'p'), 18)).toBe(10n ** 11n);
    expect(toTokenUnits(parseDecimal(2e21, 'p'), 0)).toBe(2n * 10n ** 21n);
  });

  it.each([[-1], [Number.NaN], [Infinity], ['abc'], ['1.2.3']])('refuses %s as a price', (price) => {
    expect(() => costInTokenUnits([{ id: 'cpu', amount: 1 }], [{ id: 'cpu', price }], 60, 18)).toThrow(PricingError);
  });

  it('finds the prices of a token on a chain, whatever the address case', () => {
    const fees = {
      '8996': [{ feeToken: '0xAbC0000000000000000000000000000000000001', prices: [{ id: 'cpu', price: 1 }] }],
    };
    expect(pricesFor(fees, 8996, '0xabc0000000000000000000000000000000000001')).toEqual([{ id: 'cpu', price: 1 }]);
    expect(pricesFor(fees, 1, '0xabc0000000000000000000000000000000000001')).toBeUndefined();
    expect(pricesFor(fees, 8996, '0x' + '0'.repeat(40))).toBeUndefined();
  });

  it.each([
    [0, 60],
    [30, 60],
    [90, 90],
    [5000, 600],
    [-3, 60],
  ])('bills a run of %s s as %s s (min 60, max 600)', (ran, billed) => {
    expect(billedSeconds(ran, { minJobDurationSeconds: 60, maxJobDurationSeconds: 600 })).toBe(billed);
  });

  it.each([
    [4.7, 5],
    [0.001, 1],
    [0, 0],
    [599.5, 600],
  ])('bills a run of %s s as %s whole seconds without a minimum', (ran, billed) => {
    expect(billedSeconds(ran, { minJobDurationSeconds: 0, maxJobDurationSeconds: 600 })).toBe(billed);
  });
});
