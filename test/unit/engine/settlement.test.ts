import type { V1ConfigMap } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { Settler } from '../../../engine/settlement.ts';
import { buildJobConfigMap } from '../../../lib/job/configmap.ts';
import type { PreparedTx, SettlementChain } from '../../../lib/payment/escrow.ts';
import {
  readSettlement,
  settlementPatch,
  withPayment,
  type JobPayment,
  type Settlement,
} from '../../../lib/payment/record.ts';
import type { ObservedChain } from '../../../lib/payment/settlement-plan.ts';
import { FakeKubeApi } from '../../support/fake-kube-api.ts';
import { JOB_ID, status, workflow } from '../../support/job-fixtures.ts';
import { silentLogger } from '../../support/silent-logger.ts';

const NS = 'c2d-jobs';
const E18 = 10n ** 18n;
const ESCROW = '0x' + 'e'.repeat(40);
const PAYEE = '0x' + 'a'.repeat(40);
const NOW = new Date('2026-01-01T00:10:00.000Z');

const payment: JobPayment = {
  version: 1,
  chainId: 8996,
  escrow: ESCROW,
  token: '0x' + '1'.repeat(40),
  payer: '0x' + 'c'.repeat(40),
  payee: PAYEE,
  lockId: '777',
  amount: (20n * E18).toString(),
  lockSeconds: 4200,
  lockTx: '0x' + 'aa'.repeat(32),
  lockBlock: 5,
  decimals: 18,
  prices: [{ id: 'cpu', price: 1 }],
  resources: [{ id: 'cpu', amount: 1 }],
  minJobDurationSeconds: 60,
  maxJobDurationSeconds: 600,
};

/** A chain whose answers the test sets, and that says what was recorded in the job when each transaction left. */
class FakeChain implements SettlementChain {
  chainId = 8996;
  escrowAddress = ESCROW;
  payee = PAYEE;
  observed: ObservedChain = { lock: { amount: 20n * E18, expiry: 10_000n }, blockTime: 1_000n };
  readonly signed: Array<{ action: string; amount: bigint }> = [];
  /** For each broadcast: the raw bytes sent and the intent recorded in the ConfigMap at that moment. */
  readonly sent: Array<{ raw: string; recorded: Settlement | undefined }> = [];
  constructor(private readonly api: FakeKubeApi) {}

  observe(): Promise<ObservedChain> {
    return Promise.resolve(this.observed);
  }
  async send(
    _p: JobPayment,
    action: string,
    amount: bigint,
    _proof: string,
    record: (tx: PreparedTx) => Promise<boolean>,
  ): Promise<PreparedTx | undefined> {
    this.signed.push({ action, amount });
    const n = this.signed.length;
    const tx = { hash: '0x' + n.toString(16).padStart(64, '0'), raw: `0x0${n}`, nonce: n };
    if (!(await record(tx))) return undefined;
    await this.resend(tx.raw);
    return tx;
  }
  resend(raw: string): Promise<void> {
    const cm = this.api.get<V1ConfigMap>('configmaps', NS, jobCm().metadata!.name!);
    this.sent.push({ raw, recorded: cm && readSettlement(cm) });
    return Promise.resolve();
  }
}

function jobCm(code: 40 | 70 | 31 = 70, withAlgorithm = true): V1ConfigMap {
  const stages = withAlgorithm
    ? { algorithm: { startedAt: '2026-01-01T00:00:00.000Z', finishedAt: '2026-01-01T00:01:30.000Z' } }
    : {};
  const final = code !== 40;
  return buildJobConfigMap(
    workflow({ jobId: JOB_ID }),
    status(code, new Date('2026-01-01T00:02:00.000Z'), {
      stages,
      ...(final && {
        dateFinished: '2026-01-01T00:02:00.000Z',
        termination: { reason: code === 70 ? 'finished' : 'dataProvisioningFailed' },
      }),
    }),
    NS,
  );
}

function setup(cm: V1ConfigMap = withPayment(jobCm(), payment)) {
  const api = new FakeKubeApi();
  const stored = api.put('configmaps', cm);
  const chain = new FakeChain(api);
  const settler = new Settler({ chain, api, namespace: NS, log: silentLogger, now: () => NOW });
  const current = (): V1ConfigMap => api.get<V1ConfigMap>('configmaps', NS, stored.metadata!.name!)!;
  return { api, chain, settler, stored, current };
}

describe('Settler', () => {
  it('records the signed claim before sending it, and sends exactly what it recorded', async () => {
    const { chain, settler, stored, current } = setup();
    const result = await settler.settle(stored);

    expect(chain.signed).toEqual([{ action: 'claim', amount: 2n * E18 }]);
    expect(chain.sent).toHaveLength(1);
    const recorded = chain.sent[0]!.recorded!.intent!;
    expect(recorded).toMatchObject({ action: 'claim', amount: (2n * E18).toString(), billedSeconds: 90, attempt: 1 });
    expect(recorded.tx.raw).toBe(chain.sent[0]!.raw);
    expect(readSettlement(current())).toEqual(chain.sent[0]!.recorded);
    expect(result.wrote?.metadata?.resourceVersion).toBe(current().metadata?.resourceVersion);
    expect(result.requeueAfterMs).toBeGreaterThan(0);
  });

  it('sends nothing when its record loses to a newer change (409)', async () => {
    const { api, chain, settler, stored } = setup();
    await api.patchNamespacedConfigMap({
      name: stored.metadata!.name!,
      namespace: NS,
      body: { metadata: { labels: { x: 'y' } } },
    });
    const stale = stored;
    expect(await settler.settle(stale)).toEqual({ conflict: true });
    expect(chain.sent).toEqual([]);
  });

  it('re-sends the recorded transaction, unchanged, when the node does not know it', async () => {
    const { api, chain, settler, stored, current } = setup();
    await settler.settle(stored);
    chain.observed = { ...chain.observed, tx: 'unknown' };
    const before = current();
    await settler.settle(before);
    expect(chain.signed).toHaveLength(1);
    expect(chain.sent.map((s) => s.raw)).toEqual(['0x01', '0x01']);
    expect(current().metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
    expect(api.calls.filter((c) => c.startsWith('patchNamespacedConfigMap'))).toHaveLength(1);
  });

  it('records how the lock ended once it is gone, and then does nothing more', async () => {
    const { chain, settler, stored, current } = setup();
    await settler.settle(stored);
    const hash = readSettlement(current())!.intent!.tx.hash;
    chain.observed = {
      lock: undefined,
      blockTime: 1_001n,
      tx: 'succeeded',
      ended: { kind: 'claimed', amount: 2n * E18, txHash: hash },
    };
    await settler.settle(current());
    expect(readSettlement(current())!.outcome).toEqual({
      kind: 'claimed',
      amount: (2n * E18).toString(),
      txHash: hash,
      at: NOW.toISOString(),
    });
    const settled = current();
    expect(await settler.settle(settled)).toEqual({});
    expect(chain.sent).toHaveLength(1);
  });

  it('releases the lock of a job that ended before its algorithm ran', async () => {
    const { chain, settler, stored } = setup(withPayment(jobCm(31, false), payment));
    await settler.settle(stored);
    expect(chain.signed).toEqual([{ action: 'release', amount: 0n }]);
  });

  it('leaves running jobs, unpaid jobs and locks on another escrow alone', async () => {
    for (const cm of [
      withPayment(jobCm(40), payment),
      jobCm(),
      withPayment(jobCm(), { ...payment, escrow: '0x' + 'f'.repeat(40) }),
    ]) {
      const { chain, settler, stored } = setup(cm);
      expect(await settler.settle(stored)).toEqual({});
      expect(chain.signed).toEqual([]);
      expect(chain.sent).toEqual([]);
    }
  });

  it('a settlement record round-trips through its patch', () => {
    const s: Settlement = { version: 1, outcome: { kind: 'gone', amount: '0', at: NOW.toISOString() } };
    expect(settlementPatch(s, '9')).toEqual({
      metadata: { resourceVersion: '9' },
      data: { 'settlement.json': JSON.stringify(s) },
    });
  });
});
