import { Wallet } from 'ethers';
import { describe, expect, it } from 'vitest';
import { escrowPayments } from '../../../../lib/api/escrow-payments.ts';
import type { PaidJobTerms } from '../../../../lib/api/job-payment.ts';
import { HttpError } from '../../../../lib/http/errors.ts';
import { ProviderTransactions } from '../../../../lib/payment/provider-tx.ts';
import { FakeKubeApi } from '../../../support/fake-kube-api.ts';
import { environment } from '../../../support/job-fixtures.ts';

// The quote is pure once the token's decimals are known; locking is proven on the chain (ocean-v8, escrow tests).
const provider = new Wallet('0x' + '11'.repeat(32));
const PAYEE = provider.address.toLowerCase();
const ESCROW = '0x' + 'e5'.repeat(20);
const OCEAN = '0x' + 'a0'.repeat(20);
const CHAIN = 8996;

function adapter() {
  const asked: string[] = [];
  const transactions = new ProviderTransactions({
    signer: provider,
    chainId: CHAIN,
    leases: new FakeKubeApi(),
    namespace: 'c2d-system',
    rpcTimeoutMs: 1_000,
  });
  const client = { signer: provider, transactions, escrowAddress: ESCROW, chainId: CHAIN };
  const payments = escrowPayments(client, async (token) => {
    asked.push(token);
    return 18;
  });
  return { payments, asked };
}

const terms = (overrides: Partial<PaidJobTerms> = {}): PaidJobTerms => ({
  environment: environment({
    consumerAddress: PAYEE,
    escrowFees: {
      [String(CHAIN)]: [
        {
          feeToken: OCEAN,
          prices: [
            { id: 'cpu', price: 1 },
            { id: 'ram', price: 0.5 },
          ],
        },
      ],
    },
  }),
  chainId: CHAIN,
  token: OCEAN.toUpperCase().replace('0X', '0x'),
  resources: [
    { id: 'cpu', amount: 1 },
    { id: 'ram', amount: 0.5 },
    { id: 'disk', amount: 1 },
  ],
  maxJobDurationSeconds: 90,
  payee: PAYEE,
  ...overrides,
});

async function refusal(p: Promise<unknown>): Promise<HttpError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(HttpError);
  return err as HttpError;
}

describe('escrow payments adapter: quote', () => {
  it("prices the resources at the environment's escrow fees for whole minutes, at the token's decimals", async () => {
    const { payments, asked } = adapter();
    const quote = await payments.quote(terms());
    // (1 × 1 + 0.5 × 0.5) a minute, disk unpriced, for ceil(90 / 60) = 2 minutes: 2.5 tokens.
    expect(quote.payment).toEqual({
      escrowAddress: ESCROW,
      chainId: CHAIN,
      payee: PAYEE,
      token: OCEAN,
      amount: '2500000000000000000',
      minLockSeconds: 90 + 3600,
    });
    await payments.quote(terms());
    expect(asked).toEqual([OCEAN]);
  });

  it('refuses a token the environment does not price, naming payment.token, without asking the chain', async () => {
    const { payments, asked } = adapter();
    const err = await refusal(payments.quote(terms({ token: '0x' + 'b1'.repeat(20) })));
    expect(err).toMatchObject({ status: 400, field: 'payment.token' });
    expect(asked).toEqual([]);
  });

  it('refuses a chain this escrow is not on, naming payment.chainId', async () => {
    const { payments } = adapter();
    const env = terms().environment;
    const other = { ...env, escrowFees: { '1': env.escrowFees![String(CHAIN)]! } };
    const err = await refusal(payments.quote(terms({ chainId: 1, environment: other })));
    expect(err).toMatchObject({ status: 400, field: 'payment.chainId' });
  });

  it("fails (not the consumer's fault) when the environment's consumerAddress is not the provider's key", async () => {
    const { payments } = adapter();
    const err = await payments.quote(terms({ payee: '0x' + 'c2'.repeat(20) })).catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(HttpError);
    expect((err as Error).message).toMatch(/names consumerAddress 0xc2c2.*not the provider's/);
  });
});

describe('escrow payments adapter: release', () => {
  it('refuses to release a lock it has no payment record of', async () => {
    const { payments } = adapter();
    await expect(payments.releaseJobPayment({ data: {} })).rejects.toThrow(/no payment record/);
  });
});
