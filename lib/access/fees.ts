import { ZeroAddress, getAddress } from 'ethers';
import type { Environment } from '../job/environments.ts';
import { deny } from './errors.ts';
import type { ProviderFeeProof } from './order.ts';

/** What an environment costs on one chain: a token and a price per started minute, in the token's smallest unit. */
export interface FeeTerms {
  token: string;
  pricePerMinute: bigint;
}

/** The environment's price on this chain; none listed means free (Ocean's zero-address fee token, amount 0). */
export function feeTermsFor(env: Pick<Environment, 'id' | 'fees'>, chainId: number): FeeTerms {
  const fee = env.fees.find((f) => f.chainId === chainId);
  if (!fee) return { token: ZeroAddress, pricePerMinute: 0n };
  let pricePerMinute: bigint;
  try {
    pricePerMinute = BigInt(fee.pricePerMinute);
  } catch {
    throw deny('ENVIRONMENT_PRICE_INVALID', `environment ${env.id} has an unusable price`, 'environment');
  }
  if (pricePerMinute < 0n)
    throw deny('ENVIRONMENT_PRICE_INVALID', `environment ${env.id} has a negative price`, 'environment');
  return { token: getAddress(fee.feeToken), pricePerMinute };
}

/** Price × duration in minutes, each started minute charged in full. */
export function feeAmount(terms: FeeTerms, seconds: number): bigint {
  if (terms.pricePerMinute === 0n || seconds <= 0) return 0n;
  return terms.pricePerMinute * BigInt(Math.ceil(seconds / 60));
}

/**
 * Ocean charges the environment once per job: the main dataset's fee carries the price, the others are signed at 0.
 * So at start one of the job's fees must pay, in the environment's token, for the time it was issued for (from its
 * providerData timestamp to its validUntil).
 */
export function checkFeePaid(fees: readonly ProviderFeeProof[], terms: FeeTerms): void {
  if (terms.pricePerMinute === 0n) return;
  const paid = fees.some(
    (f) =>
      f.validUntil !== 0 &&
      getAddress(f.providerFeeToken) === terms.token &&
      f.providerFeeAmount >= feeAmount(terms, f.validUntil - f.providerData.timestamp),
  );
  if (!paid)
    throw deny(
      'PROVIDER_FEE_NOT_PAID',
      "none of the orders paid the compute environment's price",
      'dataset.transferTxId',
    );
}
