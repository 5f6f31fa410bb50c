import { rpc } from '../access/rpc.ts';
import { HttpError, badRequest } from '../http/errors.ts';
import { escrowClient, lockJobPayment, releaseJobLock, tokenDecimals, type EscrowClient } from '../payment/escrow.ts';
import { PaymentRefused } from '../payment/lock-policy.ts';
import { pricesFor } from '../payment/pricing.ts';
import { QuoteRefused, quoteEscrowPayment, type EscrowQuote } from '../payment/quote.ts';
import { paymentData, readPayment } from '../payment/record.ts';
import type { EscrowPayments, LockedPayment, PaidJobTerms, PaymentQuote } from './job-payment.ts';
import type { Runtime } from './runtime.ts';

/**
 * The v2 API's escrow boundary (job-payment.ts) on lib/payment: quotes from the environment's escrowFees at the
 * token's decimals, locks with the provider's key (the payee), and records the lock as the job's `payment.json`,
 * which the engine settles (engine/settlement.ts). The consumer's refusals (funds, authorization) are 400s naming
 * `payment`, with the reason as `code`.
 */

/**
 * Bounds one JSON-RPC call of start and initializeCompute; the lock's own wait for its block is receiptTimeoutMs.
 * Transactions go out under the provider key's lease (lib/payment/provider-tx.ts), shared with the engine.
 */
const REQUEST_TIMEOUT_MS = 10_000;
/** Below start's 120 s request timeout (knative/start.yaml), with room for the access checks before the lock. */
const RECEIPT_TIMEOUT_MS = 60_000;

export function escrowPayments(
  client: EscrowClient,
  readDecimals: (token: string) => Promise<number> = (token) => tokenDecimals(client.signer.provider!, token),
): EscrowPayments {
  const payee = client.signer.address.toLowerCase();
  // Decimals never change; only tokens an environment prices are asked, so this holds a handful.
  const decimals = new Map<string, Promise<number>>();
  const decimalsOf = (token: string): Promise<number> => {
    let known = decimals.get(token);
    if (!known) {
      known = rpc(`decimals of ${token}`, () => readDecimals(token), REQUEST_TIMEOUT_MS);
      known.catch(() => decimals.delete(token));
      decimals.set(token, known);
    }
    return known;
  };

  return {
    async quote(terms: PaidJobTerms): Promise<PaymentQuote> {
      const token = terms.token.toLowerCase();
      const fees = terms.environment.escrowFees ?? {};
      if (!pricesFor(fees, terms.chainId, token)) {
        throw badRequest(
          'payment.token',
          `environment ${terms.environment.id} does not accept payments on chain ${terms.chainId} in token ${token}`,
        );
      }
      if (terms.payee.toLowerCase() !== payee) {
        // A publisher's mistake, not the consumer's: the lock would name a payee this provider cannot claim for.
        throw new Error(
          `environment ${terms.environment.id} names consumerAddress ${terms.payee}, not the provider's ${payee}`,
        );
      }
      try {
        return quoteEscrowPayment({
          fees,
          chainId: terms.chainId,
          token,
          decimals: await decimalsOf(token),
          resources: terms.resources,
          maxJobDurationSeconds: terms.maxJobDurationSeconds,
          escrowAddress: terms.chainId === client.chainId ? client.escrowAddress.toLowerCase() : undefined,
          payee,
        });
      } catch (err) {
        if (err instanceof QuoteRefused) throw badRequest(err.field, err.message);
        throw err;
      }
    },

    async lockJobPayment(job, quote): Promise<LockedPayment> {
      try {
        // The basis is the one quote() made: this adapter is its only producer.
        const payment = await lockJobPayment(client, job, quote as EscrowQuote);
        return { data: paymentData(payment) };
      } catch (err) {
        if (err instanceof PaymentRefused) throw new HttpError(400, err.message, 'payment', err.message, err.reason);
        throw err;
      }
    },

    async releaseJobPayment(locked: LockedPayment): Promise<void> {
      const payment = readPayment({ data: locked.data });
      if (!payment) throw new Error('the lock to release has no payment record');
      await releaseJobLock(client, payment);
    },
  };
}

/** The escrow of start and initializeCompute: undefined unless ESCROW_ADDRESS is set (then paid v2 jobs run). */
export function escrowFromRuntime(runtime: Runtime): EscrowPayments | undefined {
  const { config } = runtime;
  if (!config.escrowAddress) return undefined;
  return escrowPayments(
    escrowClient({
      rpcUrl: config.rpcUrl,
      chainId: config.chainId,
      key: config.providerKey(),
      escrowAddress: config.escrowAddress,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      receiptTimeoutMs: RECEIPT_TIMEOUT_MS,
      leases: runtime.leases,
      namespace: config.systemNamespace,
    }),
  );
}
