/**
 * What compute costs, as ocean-node prices it (`compute_engine_base.ts` getTotalCostOfJob / calculateResourcesCost,
 * docs/compute-pricing.md): Σ price × amount × ceil(seconds / 60), each price per unit of its resource per minute
 * (cpu: per core, ram and disk: per GB), in the fee token's units. ocean-node adds JavaScript numbers and rounds with
 * toFixed(decimals); here every price and amount is an exact decimal and the sum is converted to the token's smallest
 * unit once, rounding half up, so a price of 0.1 never becomes 0.1000000000000000055.
 */

/** One resource's price per unit per minute (ocean-node's ComputeResourcesPricingInfo). */
export interface ResourcePrice {
  id: string;
  price: number | string;
}

/** The prices one fee token is accepted at on one chain (ocean-node's ComputeEnvFees). */
export interface FeeOption {
  feeToken: string;
  prices: ResourcePrice[];
}

/** Fee options by chain id, as a decimal string (ocean-node's ComputeEnvFeesStructure). */
export type FeesByChain = Record<string, FeeOption[]>;

/** How much of a resource a job asks for (ocean-node's ComputeResourceRequest). */
export interface ResourceRequest {
  id: string;
  amount: number;
}

export class PricingError extends Error {}

/** An exact decimal: value = digits / 10^scale. */
interface Decimal {
  digits: bigint;
  scale: number;
}

const DECIMAL = /^(\d+)(?:\.(\d+))?(?:e([+-]?\d+))?$/i;

/** Parses a non-negative decimal (a number is taken by its shortest round-trip text, as JSON writes it). */
export function parseDecimal(value: number | string, what: string): Decimal {
  const text = typeof value === 'number' ? String(value) : value.trim();
  const m = DECIMAL.exec(text);
  if (!m || (typeof value === 'number' && !Number.isFinite(value))) {
    throw new PricingError(`${what} must be a non-negative decimal number, got ${JSON.stringify(value)}`);
  }
  const fraction = m[2] ?? '';
  const exponent = Number(m[3] ?? 0);
  let digits = BigInt(m[1]! + fraction);
  let scale = fraction.length - exponent;
  if (scale < 0) {
    digits *= 10n ** BigInt(-scale);
    scale = 0;
  }
  return { digits, scale };
}

/** A decimal in a token's smallest unit, rounded half up: 1.5 OCEAN at 18 decimals is 1500000000000000000n. */
export function toTokenUnits(value: Decimal, decimals: number): bigint {
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > 77) {
    throw new PricingError(`token decimals must be an integer in 0..77, got ${decimals}`);
  }
  const shift = decimals - value.scale;
  if (shift >= 0) return value.digits * 10n ** BigInt(shift);
  const divisor = 10n ** BigInt(-shift);
  return (value.digits + divisor / 2n) / divisor;
}

/** Minutes billed for a duration: ceil(seconds / 60), as ocean-node bills. */
export function billableMinutes(seconds: number): bigint {
  if (!Number.isFinite(seconds) || seconds < 0) throw new PricingError(`duration must be ≥ 0 s, got ${seconds}`);
  return BigInt(Math.ceil(seconds / 60));
}

/** The prices for one token on one chain; undefined when the environment does not take that token there. */
export function pricesFor(fees: FeesByChain, chainId: number, token: string): ResourcePrice[] | undefined {
  return fees[String(chainId)]?.find((f) => f.feeToken.toLowerCase() === token.toLowerCase())?.prices;
}

/**
 * The cost of `resources` held for `seconds`, in the token's smallest unit. A resource without a price is free (as
 * in ocean-node, where only listed resources are billable).
 */
export function costInTokenUnits(
  resources: readonly ResourceRequest[],
  prices: readonly ResourcePrice[],
  seconds: number,
  decimals: number,
): bigint {
  const minutes = billableMinutes(seconds);
  const terms: Decimal[] = [];
  for (const r of resources) {
    const price = prices.find((p) => p.id === r.id);
    if (!price) continue;
    const p = parseDecimal(price.price, `price of ${r.id}`);
    const a = parseDecimal(r.amount, `amount of ${r.id}`);
    terms.push({ digits: p.digits * a.digits * minutes, scale: p.scale + a.scale });
  }
  const scale = Math.max(0, ...terms.map((t) => t.scale));
  const digits = terms.reduce((sum, t) => sum + t.digits * 10n ** BigInt(scale - t.scale), 0n);
  return toTokenUnits({ digits, scale }, decimals);
}

/**
 * The whole seconds a job is billed for once it ran its algorithm for `ranSeconds` (ocean-node's claimPayments):
 * never more than the duration the consumer paid for, never less than the environment's minimum. A part second
 * counts as a second (the settlement record keeps whole seconds); the price is per started minute either way.
 */
export function billedSeconds(
  ranSeconds: number,
  limits: { minJobDurationSeconds: number; maxJobDurationSeconds: number },
): number {
  const ran = Math.ceil(Math.max(0, ranSeconds));
  return Math.max(limits.minJobDurationSeconds, Math.min(ran, limits.maxJobDurationSeconds));
}
