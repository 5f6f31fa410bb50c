import { costInTokenUnits, pricesFor, type FeesByChain, type ResourcePrice, type ResourceRequest } from './pricing.ts';

/**
 * The price of a paid job and the escrow lock that pays for it, as ocean-node's initializeCompute quotes it and its
 * startCompute locks it: the requested resources for the whole `maxJobDuration` (at least the environment's minimum),
 * locked for maxJobDuration + queueMaxWaitTime + the claim timeout (ocean-node's getMinLockTime; its
 * claimDurationTimeout defaults to 3600 s).
 */

export const DEFAULT_CLAIM_TIMEOUT_SECONDS = 3600;

/** ocean-node's `payment` block of an initializeCompute answer. `amount` is in the token's smallest unit. */
export interface EscrowPaymentBlock {
  escrowAddress: string;
  chainId: number;
  payee: string;
  token: string;
  amount: string;
  minLockSeconds: number;
}

/** What the lock is priced from; recorded with the lock so the job is billed at the prices it was quoted. */
export interface PricingBasis {
  prices: ResourcePrice[];
  resources: ResourceRequest[];
  decimals: number;
  minJobDurationSeconds: number;
  maxJobDurationSeconds: number;
}

export interface EscrowQuote {
  payment: EscrowPaymentBlock;
  basis: PricingBasis;
}

export interface QuoteRequest {
  /** The environment's fees (ocean-node's shape). */
  fees: FeesByChain;
  chainId: number;
  token: string;
  /** The token's decimals (read from the chain by the caller: lib/payment/escrow.ts tokenDecimals). */
  decimals: number;
  /** Every resource the job gets, with its amount (cpu cores, ram GB, disk GB). */
  resources: ResourceRequest[];
  maxJobDurationSeconds: number;
  minJobDurationSeconds?: number;
  queueMaxWaitSeconds?: number;
  claimTimeoutSeconds?: number;
  /** The escrow contract on `chainId`, or undefined when the provider takes no escrow payments there. */
  escrowAddress: string | undefined;
  /** The provider's address: the payee the consumer authorizes. */
  payee: string;
}

/** Why a quote cannot be given; `field` names the request field at fault (for a 400). */
export class QuoteRefused extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

export function quoteEscrowPayment(req: QuoteRequest): EscrowQuote {
  if (!req.escrowAddress) throw new QuoteRefused('payment.chainId', `no escrow payments on chain ${req.chainId}`);
  const prices = pricesFor(req.fees, req.chainId, req.token);
  if (!prices) {
    throw new QuoteRefused(
      'payment.token',
      `this environment does not accept payments on chain ${req.chainId} using token ${req.token}`,
    );
  }
  if (!Number.isInteger(req.maxJobDurationSeconds) || req.maxJobDurationSeconds <= 0) {
    throw new QuoteRefused('maxJobDuration', `must be a positive whole number of seconds`);
  }
  const minJobDurationSeconds = req.minJobDurationSeconds ?? 0;
  const billed = Math.max(req.maxJobDurationSeconds, minJobDurationSeconds);
  const amount = costInTokenUnits(req.resources, prices, billed, req.decimals);
  const minLockSeconds =
    req.maxJobDurationSeconds +
    (req.queueMaxWaitSeconds ?? 0) +
    (req.claimTimeoutSeconds ?? DEFAULT_CLAIM_TIMEOUT_SECONDS);
  return {
    payment: {
      escrowAddress: req.escrowAddress,
      chainId: req.chainId,
      payee: req.payee,
      token: req.token,
      amount: amount.toString(),
      minLockSeconds,
    },
    basis: {
      prices: prices.map((p) => ({ ...p })),
      resources: req.resources.map((r) => ({ ...r })),
      decimals: req.decimals,
      minJobDurationSeconds,
      maxJobDurationSeconds: billed,
    },
  };
}
