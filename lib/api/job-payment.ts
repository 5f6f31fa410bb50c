import type { Environment } from '../job/environments.ts';

/**
 * The one boundary between the v2 API and escrow payments (ocean-node's Escrow contract): v2 initializeCompute asks
 * it for the `payment` block, paid start asks it to lock the job's price before the job exists and to release the
 * lock when the job then cannot be created. A provider without an escrow configured has none (`undefined`), and
 * then only the free tier runs: paid start and a priced initializeCompute answer 400 "paid compute needs escrow,
 * not configured". The engine settles (claims or cancels) the locks of the jobs it runs.
 */
export interface EscrowPayments {
  /** ocean-node's `payment` block for these terms; 400 naming the request field when they cannot be priced. */
  quote(terms: PaidJobTerms): Promise<PaymentQuote>;
  /**
   * Locks the quoted price in the consumer's escrow for the job (createLock), or refuses with a 4xx (insufficient
   * funds, no or expired authorization). Returns what the job's ConfigMap keeps beside its workflow.
   */
  lockJobPayment(job: { jobId: string; owner: string }, quote: PaymentQuote): Promise<LockedPayment>;
  /** Gives the lock back at once: its job could not be created. */
  releaseJobPayment(locked: LockedPayment): Promise<void>;
}

/** A resource as ocean-node requests it: cpu in cores, ram and disk in GiB. */
export interface ResourceAmount {
  id: 'cpu' | 'ram' | 'disk';
  amount: number;
}

export interface PaidJobTerms {
  environment: Environment;
  chainId: number;
  /** The fee token the consumer pays in. */
  token: string;
  /** Every resource the job gets. */
  resources: ResourceAmount[];
  maxJobDurationSeconds: number;
  /** Who is paid: the environment's consumerAddress (the provider). */
  payee: string;
}

/** ocean-node's initializeCompute `payment` block; amount in the token's smallest unit. */
export interface PaymentBlock {
  escrowAddress: string;
  chainId: number;
  payee: string;
  token: string;
  amount: string;
  minLockSeconds: number;
}

export interface PaymentQuote {
  payment: PaymentBlock;
  /** Whatever else the escrow side needs to lock and later bill at the quoted prices. */
  basis: unknown;
}

/** A lock made for a job: the ConfigMap data keys and values stored with the job (its payment record). */
export interface LockedPayment {
  data: Record<string, string>;
}

/** The 400 every paid path gives while no escrow is configured. */
export const ESCROW_NOT_CONFIGURED = 'paid compute needs escrow, not configured';
