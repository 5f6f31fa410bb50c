import { describe, expect, it } from 'vitest';
import { QuoteRefused, quoteEscrowPayment, type QuoteRequest } from '../../../../lib/payment/quote.ts';

const TOKEN = '0x' + '1'.repeat(40);
const ESCROW = '0x' + 'e'.repeat(40);
const PAYEE = '0x' + 'a'.repeat(40);

const request = (overrides: Partial<QuoteRequest> = {}): QuoteRequest => ({
  fees: {
    '8996': [
      {
        feeToken: TOKEN,
        prices: [
          { id: 'cpu', price: 1 },
          { id: 'ram', price: 0.5 },
        ],
      },
    ],
  },
  chainId: 8996,
  token: TOKEN,
  decimals: 18,
  resources: [
    { id: 'cpu', amount: 1 },
    { id: 'ram', amount: 2 },
    { id: 'disk', amount: 1 },
  ],
  maxJobDurationSeconds: 300,
  escrowAddress: ESCROW,
  payee: PAYEE,
  ...overrides,
});

describe('quoteEscrowPayment', () => {
  it("returns ocean-node's payment block: (1 + 0.5×2) × 5 min, locked for duration + queue wait + claim timeout", () => {
    const quote = quoteEscrowPayment(request({ queueMaxWaitSeconds: 20, claimTimeoutSeconds: 100 }));
    expect(quote.payment).toEqual({
      escrowAddress: ESCROW,
      chainId: 8996,
      payee: PAYEE,
      token: TOKEN,
      amount: (10n * 10n ** 18n).toString(),
      minLockSeconds: 420,
    });
    expect(quote.basis).toMatchObject({ decimals: 18, minJobDurationSeconds: 0, maxJobDurationSeconds: 300 });
  });

  it('uses a one-hour claim timeout by default, as ocean-node', () => {
    expect(quoteEscrowPayment(request()).payment.minLockSeconds).toBe(300 + 3600);
  });

  it("prices at least the environment's minimum duration", () => {
    const quote = quoteEscrowPayment(request({ maxJobDurationSeconds: 30, minJobDurationSeconds: 120 }));
    expect(quote.payment.amount).toBe((4n * 10n ** 18n).toString());
    expect(quote.basis.maxJobDurationSeconds).toBe(120);
  });

  it('refuses a token the environment does not take, naming payment.token', () => {
    const err = (() => {
      try {
        quoteEscrowPayment(request({ token: '0x' + '2'.repeat(40) }));
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(QuoteRefused);
    expect((err as QuoteRefused).field).toBe('payment.token');
  });

  it('refuses a chain without an escrow, and a duration that is not positive', () => {
    expect(() => quoteEscrowPayment(request({ escrowAddress: undefined }))).toThrow(/no escrow payments on chain 8996/);
    expect(() => quoteEscrowPayment(request({ maxJobDurationSeconds: 0 }))).toThrow(QuoteRefused);
  });
});
