import { CoreV1Api, type V1ConfigMap } from '@kubernetes/client-node';
import { Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../devcluster/local-stack.ts';
import { ProviderInstance } from '../../devcluster/ocean-client.ts';
import { claimName } from '../../lib/api/order-claims.ts';
import { readJobConfigMap, type JobConfigMap } from '../../lib/job/configmap.ts';
import { jobSelector } from '../../lib/job/names.ts';
import { loadKubeConfig } from '../../lib/kube/client.ts';
import { publishComputeAssets, type ComputeAssets, type Orders } from '../support/compute-orders.ts';

/**
 * Issue 10, item 3: one order must back at most one unfinished job however many starts race for it. The attack as
 * reported: concurrent starts on the same orders, then a start reusing the dataset order with a fresh algorithm
 * order while the first job has not finished. Real functions behind the gateway with their own ServiceAccounts, real
 * orders on the local chain; no engine, so every job stays unfinished (status 1).
 */

const env = inject('platform');
const consumer = new Wallet(env.keys.consumer);
const core = loadKubeConfig(env.kubeconfig).makeApiClient(CoreV1Api);
const NS = env.namespaces.jobs;
const CONCURRENT = 8;
const ROUNDS = 10;
let stack: LocalStack;
let assets: ComputeAssets;

beforeAll(async () => {
  stack = await startLocalStack(env, { engine: false });
  assets = await publishComputeAssets(env, stack);
}, 180_000);

afterAll(async () => {
  // Unfinished jobs would hold the engine's queue in the test files that run after this one on the same platform.
  for (const job of await consumerJobs()) {
    await core.deleteNamespacedConfigMap({ name: job.name, namespace: NS, propagationPolicy: 'Background' });
  }
  await assets?.close();
  await stack?.stop();
});

async function consumerJobs(): Promise<JobConfigMap[]> {
  const list = await core.listNamespacedConfigMap({
    namespace: NS,
    labelSelector: jobSelector('workflow', { owner: consumer.address.toLowerCase() }),
  });
  return list.items.map(readJobConfigMap);
}

/** The jobs that stand on any of `orders`. */
async function jobsOn(orders: Orders): Promise<JobConfigMap[]> {
  const txs = new Set([orders.datasetTx, orders.algorithmTx].map((t) => t.toLowerCase()));
  return (await consumerJobs()).filter((job) => {
    const { datasets, algorithm } = job.workflow;
    const used = [
      ...datasets.map((d) => d.transferTxId),
      ...(algorithm.kind === 'published' ? [algorithm.transferTxId] : []),
    ];
    return used.some((t) => txs.has(t.toLowerCase()));
  });
}

async function claimOf(txId: string): Promise<V1ConfigMap | undefined> {
  try {
    return await core.readNamespacedConfigMap({ name: claimName(env.chainId, txId), namespace: NS });
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}

function post(body: unknown): Promise<Response> {
  return fetch(`${stack.providerUrl}/api/services/compute`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

async function nonce(): Promise<bigint> {
  return BigInt(await ProviderInstance.getNonce(stack.providerUrl, consumer.address));
}

describe('order claims under concurrent starts (issue 10, item 3)', () => {
  it(
    `starts exactly one job from ${CONCURRENT} concurrent starts on the same orders, ${ROUNDS} rounds; the dataset order then stays taken`,
    { timeout: 900_000 },
    async () => {
      const rounds: string[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const orders = await assets.order();
        // Each request correctly signed with a nonce of its own; a request whose nonce is passed by one accepted first
        // may be refused 401, which is fine: what counts is how many jobs stand on the orders.
        const base = await nonce();
        const bodies = await Promise.all(
          Array.from({ length: CONCURRENT }, (_, i) => assets.startBody(orders, base + BigInt(i + 1))),
        );
        const answers = await Promise.all(bodies.map(post));
        const statuses = answers.map((r) => r.status);
        const unexpected = await Promise.all(
          answers.filter((r) => ![200, 401, 409].includes(r.status)).map((r) => r.text()),
        );
        const jobs = await jobsOn(orders);
        const summary = `round ${round}: answers ${statuses.join(',')}; jobs ${jobs.map((j) => j.workflow.jobId).join(',')}${unexpected.length ? `; unexpected ${unexpected.join(' | ')}` : ''}`;
        rounds.push(summary);
        expect(jobs, summary).toHaveLength(1);
        expect(
          statuses.filter((s) => s === 200),
          summary,
        ).toHaveLength(1);

        // The reported second step: the same dataset order with a fresh algorithm order, while the job is unfinished.
        const fresh = await assets.order();
        const reuse = await post(
          await assets.startBody({ datasetTx: orders.datasetTx, algorithmTx: fresh.algorithmTx }, (await nonce()) + 1n),
        );
        expect(reuse.status, `${summary}; reuse of the dataset order answered ${reuse.status}`).toBe(409);
        expect(await jobsOn(orders), summary).toHaveLength(1);
        expect(
          await claimOf(fresh.algorithmTx),
          `${summary}: the refused start left its algorithm claim`,
        ).toBeUndefined();

        // Both claims name the one job and belong to it, so they go when it goes.
        const [job] = jobs as [JobConfigMap];
        for (const tx of [orders.datasetTx, orders.algorithmTx]) {
          const claim = await claimOf(tx);
          expect(claim?.data?.jobId, `${summary}; claim of ${tx}`).toBe(job.workflow.jobId);
          expect(
            claim?.metadata?.ownerReferences?.map((r) => r.uid),
            `${summary}; claim of ${tx}`,
          ).toEqual([job.uid]);
        }
        expect(unexpected, summary).toEqual([]);
      }
      console.log(rounds.join('\n'));
    },
  );
});
