import type { S3Client } from '@aws-sdk/client-s3';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { ClusterView } from '../../../engine/cluster-view.ts';
import { EngineMetrics } from '../../../engine/metrics.ts';
import { DEFAULT_PLANNER_SETTINGS } from '../../../engine/planner.ts';
import { DEFAULT_POD_SPEC_SETTINGS } from '../../../engine/pod-specs.ts';
import { Reconciler } from '../../../engine/reconciler.ts';
import { Settler } from '../../../engine/settlement.ts';
import { buildJobConfigMap, readJobConfigMap } from '../../../lib/job/configmap.ts';
import { jobNames } from '../../../lib/job/names.ts';
import type { PreparedTx, SettlementChain } from '../../../lib/payment/escrow.ts';
import { readSettlement, SETTLEMENT_KEY, withPayment, type JobPayment } from '../../../lib/payment/record.ts';
import type { ObservedChain } from '../../../lib/payment/settlement-plan.ts';
import { FakeKubeApi } from '../../support/fake-kube-api.ts';
import {
  environment,
  environmentsConfigMap,
  jobConfigMap,
  nthJobId,
  status,
  workflow,
} from '../../support/job-fixtures.ts';
import { silentLogger } from '../../support/silent-logger.ts';

/** The reconciler's one settlement hook: after the pass, on the job as the pass left it. */

const NS = 'c2d-jobs';
const ESCROW = '0x' + 'e'.repeat(40);
const PAYEE = '0x' + 'a'.repeat(40);
const payment: JobPayment = {
  version: 1,
  chainId: 8996,
  escrow: ESCROW,
  token: '0x' + '1'.repeat(40),
  payer: '0x' + 'c'.repeat(40),
  payee: PAYEE,
  lockId: '1',
  amount: '1000',
  lockSeconds: 4200,
  lockTx: '0x' + 'aa'.repeat(32),
  lockBlock: 1,
  decimals: 18,
  prices: [{ id: 'cpu', price: 1 }],
  resources: [{ id: 'cpu', amount: 1 }],
  minJobDurationSeconds: 0,
  maxJobDurationSeconds: 600,
};

/** A job that finished a moment ago, its results kept for another hour. */
function finishedJob(): V1ConfigMap {
  const now = new Date();
  return buildJobConfigMap(
    workflow({ jobId: nthJobId(1) }),
    status(70, now, {
      dateFinished: now.toISOString(),
      termination: { reason: 'finished' },
      expiresAt: new Date(now.getTime() + 3_600_000).toISOString(),
    }),
    NS,
  );
}

const chain = (sent: string[]): SettlementChain => ({
  chainId: 8996,
  escrowAddress: ESCROW,
  payee: PAYEE,
  observe: (): Promise<ObservedChain> => Promise.resolve({ lock: { amount: 1000n, expiry: 10_000n }, blockTime: 1n }),
  send: async (_p, _a, _amount, _proof, record): Promise<PreparedTx | undefined> => {
    const tx = { hash: '0x' + '1'.repeat(64), raw: '0x01', nonce: 0 };
    if (!(await record(tx))) return undefined;
    sent.push(tx.raw);
    return tx;
  },
  resend: (raw: string) => {
    sent.push(raw);
    return Promise.resolve();
  },
});

const views: ClusterView[] = [];
afterEach(async () => {
  await Promise.all(views.splice(0).map((v) => v.stop()));
});

async function harness(job: V1ConfigMap) {
  const api = new FakeKubeApi();
  api.put('configmaps', environmentsConfigMap(NS, environment()));
  api.put('configmaps', job);
  const view = new ClusterView(
    { core: api, watch: api },
    {
      namespace: NS,
      environmentsNamespace: NS,
      onJob: () => undefined,
      onEnvironments: () => undefined,
      log: silentLogger,
    },
  );
  views.push(view);
  await view.start();
  const sent: string[] = [];
  const reconciler = new Reconciler({
    api,
    view,
    namespace: NS,
    planner: DEFAULT_PLANNER_SETTINGS,
    pods: DEFAULT_POD_SPEC_SETTINGS,
    store: { client: {} as S3Client, bucket: 'results' },
    metrics: new EngineMetrics(),
    log: silentLogger,
    identity: 'test',
    settlement: new Settler({ chain: chain(sent), api, namespace: NS, log: silentLogger }),
  });
  const read = (): V1ConfigMap => api.get<V1ConfigMap>('configmaps', NS, jobNames(nthJobId(1)).configMap)!;
  return { api, reconciler, sent, read };
}

describe('Reconciler with a settler', () => {
  it('a paid job stopped in the queue: the pass ends it, and the same reconcile releases its lock', async () => {
    const { reconciler, sent, read } = await harness(
      withPayment(jobConfigMap(1, 1, { namespace: NS, stopRequested: true }), payment),
    );
    const result = await reconciler.reconcile(nthJobId(1));

    expect(readJobConfigMap(read()).status.code).toBe(71);
    expect(readSettlement(read())?.intent).toMatchObject({ action: 'release', amount: '0', attempt: 1 });
    expect(sent).toEqual(['0x01']);
    expect(result.requeueAfterMs).toBeGreaterThan(0);
  });

  it('a settlement record that loses to another write is a requeue, and nothing is sent', async () => {
    const { api, reconciler, sent } = await harness(withPayment(finishedJob(), payment));
    const patch = api.patchNamespacedConfigMap.bind(api);
    api.patchNamespacedConfigMap = async (req) => {
      // Another writer changes the job just before the settlement's guarded write.
      await patch({ name: req.name, namespace: req.namespace, body: { metadata: { labels: { touched: 'yes' } } } });
      return patch(req);
    };
    const result = await reconciler.reconcile(nthJobId(1));
    expect(result.requeue).toBe(true);
    expect(sent).toEqual([]);
  });

  it('keeps a paid job past its retention while its lock is not settled, and deletes it once it is', async () => {
    const past = new Date(Date.now() - (DEFAULT_PLANNER_SETTINGS.retentionSeconds + 60) * 1000);
    const expired = (): V1ConfigMap =>
      buildJobConfigMap(
        workflow({ jobId: nthJobId(1) }),
        status(70, past, {
          dateFinished: past.toISOString(),
          termination: { reason: 'finished' },
          expiresAt: past.toISOString(),
          cleanedUpAt: past.toISOString(),
        }),
        NS,
      );
    const unsettled = await harness(withPayment(expired(), payment));
    await unsettled.reconciler.reconcile(nthJobId(1));
    expect(unsettled.read()).toBeDefined();
    expect(readSettlement(unsettled.read())?.intent).toMatchObject({ action: 'release', attempt: 1 });

    const settled = withPayment(expired(), payment);
    const outcome = { kind: 'claimed', amount: '1000', at: past.toISOString() };
    settled.data![SETTLEMENT_KEY] = JSON.stringify({ version: 1, outcome });
    const done = await harness(settled);
    await done.reconciler.reconcile(nthJobId(1));
    expect(done.read()).toBeUndefined();
  });

  it('leaves a job without payment to the planner alone', async () => {
    const { reconciler, sent, read } = await harness(finishedJob());
    await reconciler.reconcile(nthJobId(1));
    expect(readSettlement(read())).toBeUndefined();
    expect(sent).toEqual([]);
  });
});
