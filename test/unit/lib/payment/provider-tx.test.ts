import type { V1Lease } from '@kubernetes/client-node';
import { FeeData, Network, Transaction, Wallet, type Provider } from 'ethers';
import { describe, expect, it } from 'vitest';
import {
  NONCE_ANNOTATION,
  PROVIDER_TX_LEASE,
  ProviderTransactions,
  RECORDED_NONCE_TRUST_MS,
  alreadyUsed,
  chooseNonce,
  readRecordedNonce,
} from '../../../../lib/payment/provider-tx.ts';
import { FakeKubeApi } from '../../../support/fake-kube-api.ts';

const SENDER = '0x' + 'ab'.repeat(20);
const TX = '0x' + '01'.repeat(32);
const recorded = (nonce: number, sender = SENDER) => ({ sender, nonce, tx: TX });

describe('chooseNonce', () => {
  it.each([
    ['no record: the pending count', 7, undefined, 0, 7],
    ['the chain is past the record', 7, recorded(5), 0, 7],
    ['the chain counts the recorded transaction', 7, recorded(6), 0, 7],
    ['the chain has not counted the last recorded transaction yet', 7, recorded(7), 0, 8],
    ['further behind', 3, recorded(7), 1_000, 8],
    ['trusted up to its bound', 7, recorded(7), RECORDED_NONCE_TRUST_MS, 8],
    [
      'a record the chain never counted is dropped after its bound: the gap is filled',
      7,
      recorded(9),
      RECORDED_NONCE_TRUST_MS + 1,
      7,
    ],
    ['another key recorded it', 7, recorded(9, '0x' + 'cd'.repeat(20)), 0, 7],
  ])('%s', (_what, pending, record, seenForMs, expected) => {
    expect(chooseNonce(pending, record, SENDER.toUpperCase().replace('0X', '0x'), seenForMs)).toBe(expected);
  });
});

describe('readRecordedNonce', () => {
  it('reads what a holder wrote', () => {
    expect(readRecordedNonce({ [NONCE_ANNOTATION]: JSON.stringify(recorded(4)) })).toEqual(recorded(4));
  });

  it.each([
    ['absent', {}],
    ['not JSON', { [NONCE_ANNOTATION]: '{' }],
    ['a negative nonce', { [NONCE_ANNOTATION]: JSON.stringify(recorded(-1)) }],
    ['no transaction', { [NONCE_ANNOTATION]: JSON.stringify({ sender: SENDER, nonce: 1 }) }],
  ])('ignores a record that is %s (the chain decides)', (_what, annotations) => {
    expect(readRecordedNonce(annotations)).toBeUndefined();
  });
});

describe('alreadyUsed', () => {
  it.each([
    ['already known', true],
    ['nonce too low: next nonce 5, tx nonce 4', true],
    ['replacement transaction underpriced', false],
    ['insufficient funds for gas', false],
  ])('%s → %s', (message, expected) => {
    expect(alreadyUsed(new Error(message))).toBe(expected);
  });
});

/** The chain as the sender sees it: a pending count, and every raw transaction broadcast, in order. */
class FakeChain {
  pending = 5;
  readonly sent: string[] = [];
  failBroadcast: Error | undefined;
  getNetwork = () => Promise.resolve(Network.from(8996));
  estimateGas = () => Promise.resolve(50_000n);
  getFeeData = () => Promise.resolve(new FeeData(null, 2n, 1n));
  getTransactionCount = () => Promise.resolve(this.pending);
  resolveName = (name: string) => Promise.resolve(name);
  broadcastTransaction = (raw: string) => {
    if (this.failBroadcast) return Promise.reject(this.failBroadcast);
    this.sent.push(raw);
    this.pending++;
    return Promise.resolve({ hash: Transaction.from(raw).hash });
  };
}

function sender(chain: FakeChain, api = new FakeKubeApi(), clock?: () => number) {
  const signer = new Wallet('0x' + '11'.repeat(32), chain as unknown as Provider);
  const txs = new ProviderTransactions({
    signer,
    chainId: 8996,
    leases: api,
    namespace: 'c2d-system',
    rpcTimeoutMs: 1_000,
    ...(clock && { clock }),
  });
  return { txs, api, address: signer.address.toLowerCase() };
}

const request = { to: '0x' + '22'.repeat(20), data: '0x' };
const leaseOf = (api: FakeKubeApi): V1Lease => api.get<V1Lease>('leases', 'c2d-system', PROVIDER_TX_LEASE)!;

describe('ProviderTransactions', () => {
  it('signs with the pending count, sends, and records the nonce in the lease it gives back', async () => {
    const chain = new FakeChain();
    const { txs, api, address } = sender(chain);
    const tx = await txs.send(request);
    expect(tx?.nonce).toBe(5);
    expect(chain.sent).toEqual([tx!.raw]);
    expect(leaseOf(api).spec?.holderIdentity).toBeUndefined();
    expect(readRecordedNonce(leaseOf(api).metadata!.annotations!)).toEqual({ sender: address, nonce: 5, tx: tx!.hash });
  });

  it('lets `record` keep the signed transaction before it is sent, and sends nothing when it declines', async () => {
    const chain = new FakeChain();
    const { txs } = sender(chain);
    const seen: number[] = [];
    const tx = await txs.send(request, (signed) => {
      seen.push(chain.sent.length);
      expect(Transaction.from(signed.raw).nonce).toBe(5);
      return Promise.resolve(true);
    });
    expect(seen).toEqual([0]);
    expect(chain.sent).toEqual([tx!.raw]);
    expect(await txs.send(request, () => Promise.resolve(false))).toBeUndefined();
    expect(chain.sent).toHaveLength(1);
  });

  it('goes past a nonce the last holder recorded that the chain does not count yet', async () => {
    const chain = new FakeChain();
    const { txs, api, address } = sender(chain);
    await txs.send(request);
    // Another pod sent nonce 6 through an RPC backend this one's has not heard from.
    const lease = leaseOf(api);
    api.patch('leases', 'c2d-system', PROVIDER_TX_LEASE, {
      metadata: {
        annotations: { [NONCE_ANNOTATION]: JSON.stringify({ sender: address, nonce: 6, tx: '0x' + '33'.repeat(32) }) },
      },
      spec: lease.spec,
    });
    expect((await txs.send(request))?.nonce).toBe(7);
  });

  it('sends nothing once its lease has run too short, and throws when the node refuses', async () => {
    const chain = new FakeChain();
    let now = 0;
    const { txs, api } = sender(chain, new FakeKubeApi(), () => now);
    const late = txs.send(request, () => {
      now = 19_500;
      return Promise.resolve(true);
    });
    await expect(late).rejects.toThrow(/lease has 500 ms left: not sending/);
    expect(chain.sent).toEqual([]);
    expect(leaseOf(api).spec?.holderIdentity).toBeUndefined();
    chain.failBroadcast = new Error('replacement transaction underpriced');
    await expect(txs.send(request)).rejects.toThrow('underpriced');
  });
});
