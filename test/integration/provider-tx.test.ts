import { CoordinationV1Api, CoreV1Api, type V1Lease } from '@kubernetes/client-node';
import { Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../devcluster/local-stack.ts';
import { escrowFromRuntime } from '../../lib/api/escrow-payments.ts';
import type { EscrowPayments, LockedPayment } from '../../lib/api/job-payment.ts';
import { Runtime } from '../../lib/api/runtime.ts';
import { newJobId } from '../../lib/job/names.ts';
import { loadKubeConfig } from '../../lib/kube/client.ts';
import { escrowLockId } from '../../lib/payment/lock-policy.ts';
import { NONCE_ANNOTATION, PROVIDER_TX_LEASE, readRecordedNonce } from '../../lib/payment/provider-tx.ts';
import { FileServer } from '../support/engine-jobs.ts';
import { EscrowTestChain, createPaidJob, readPaidJob, waitForPaidJob } from '../support/escrow-chain.ts';
import { buildJob, sha256, shellAlgorithm } from '../support/job-fixtures.ts';

/**
 * The provider's key sends from several places at once: every `start` pod locks paid jobs' prices (createLock) and
 * the engine settles finished jobs (claimLockAndWithdraw). Here four start "pods" (each its own Runtime and escrow
 * client, acting as c2d-fn-start, as four Knative replicas would) lock prices in bursts while the engine claims
 * three finished jobs, with the chain mining once a second so that transactions wait in the pool and any two
 * senders reading the pending count at once would sign the same nonce. Every start must succeed and every claim
 * must go through on its first transaction.
 */

const env = inject('platform');
const ns = env.namespaces.jobs;
const PODS = 4;
const DATASET = 'a,b\n1,2\n';
let core: CoreV1Api;
let stack: LocalStack;
let files: FileServer;
let chain: EscrowTestChain;
let pods: EscrowPayments[];
const provider = new Wallet(env.keys.provider);

/** A start pod: its own Runtime and so its own escrow client, with start's identity and settings. */
function startPod(): EscrowPayments {
  const kubeconfig = stack.identities?.kubeconfigs.get('c2d-fn-start');
  if (!kubeconfig) throw new Error('the local stack minted no identity for c2d-fn-start');
  const escrow = escrowFromRuntime(
    new Runtime({
      KUBECONFIG: kubeconfig,
      JOBS_NAMESPACE: ns,
      SYSTEM_NAMESPACE: env.namespaces.system,
      RPC_URL: env.rpcUrl,
      CHAIN_ID: String(env.chainId),
      ESCROW_ADDRESS: env.ocean.Escrow,
      PROVIDER_KEY: env.keys.provider,
    }),
  );
  if (!escrow) throw new Error('no escrow for the start pod');
  return escrow;
}

beforeAll(async () => {
  core = loadKubeConfig(env.kubeconfig).makeApiClient(CoreV1Api);
  chain = await new EscrowTestChain(env, provider.address.toLowerCase()).init();
  files = await new FileServer().start(env);
  files.file('/data.csv', DATASET);
  stack = await startLocalStack(env, { engine: true });
  pods = Array.from({ length: PODS }, startPod);
});

afterAll(async () => {
  await chain?.rpc.send('evm_setIntervalMining', [0]).catch(() => undefined);
  await chain?.rpc.send('evm_setAutomine', [true]).catch(() => undefined);
  await stack?.stop();
  await files?.close();
  chain?.close();
});

describe('transactions from the provider key', () => {
  it('never share a nonce: concurrent paid starts on four start pods while the engine settles', async () => {
    const q = chain.quote();
    const payers = await Promise.all(Array.from({ length: PODS }, () => chain.newPayer('100')));
    for (const payer of payers) await chain.depositAndAuthorize(payer, '90', 40, q.payment.minLockSeconds);

    // Three paid jobs, locked and created now, finishing a second or three apart: the engine claims each as it ends.
    const jobs = await Promise.all(
      [1, 2, 3].map(async (seconds, i) => {
        const payer = payers[i]!;
        const job = buildJob({
          environment: stack.environmentId,
          owner: payer.address.toLowerCase(),
          datasets: [{ files: [{ url: files.url('/data.csv'), checksum: sha256(DATASET) }] }],
          algorithm: shellAlgorithm(`echo paid > "$OUTPUTS/out.txt"; sleep ${seconds}`),
          maxDurationSeconds: 120,
        });
        const locked = await pods[i]!.lockJobPayment({ jobId: job.workflow.jobId, owner: payer.address }, q);
        return { job, locked };
      }),
    );
    for (const { job, locked } of jobs) {
      const payment = JSON.parse(locked.data['payment.json']!) as Parameters<typeof createPaidJob>[3];
      await createPaidJob(core, ns, job, payment);
    }

    // The bursts begin once the first job's algorithm runs, so they go on while the engine claims all three.
    await waitForPaidJob(core, ns, jobs[0]!.job.workflow.jobId, 'its algorithm started', (s) => {
      return s.job.status.stages.algorithm !== undefined;
    });
    // From now on a transaction waits in the pool for up to a second.
    await chain.rpc.send('evm_setAutomine', [false]);
    await chain.rpc.send('evm_setIntervalMining', [1]);
    const started = Date.now();
    const starts: Array<Promise<{ jobId: string; locked: LockedPayment }>> = [];
    const settledJobs = async (): Promise<number> => {
      const states = await Promise.all(jobs.map((j) => readPaidJob(core, ns, j.job.workflow.jobId)));
      return states.filter((s) => s.settlement?.outcome !== undefined).length;
    };
    // A burst of one start per pod every second until the engine has settled all three: at most 25 bursts (100
    // starts, 25 locks a payer beside its job's, within what each deposited), enough for a real node's publish pods.
    let settledDuring = 0;
    while (starts.length < 25 * PODS && (settledDuring = await settledJobs()) < jobs.length) {
      for (let p = 0; p < PODS; p++) {
        const jobId = newJobId();
        const payer = payers[p]!;
        starts.push(pods[p]!.lockJobPayment({ jobId, owner: payer.address }, q).then((locked) => ({ jobId, locked })));
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
    const results = await Promise.allSettled(starts);
    const failed = results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []));
    expect(failed).toEqual([]);
    const locked = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const elapsed = Date.now() - started;
    console.log(
      `${locked.length} paid starts on ${PODS} pods in ${elapsed} ms; the engine settled ${settledDuring} of 3 jobs meanwhile`,
    );
    // The engine's claims went out among the starts' locks.
    expect(settledDuring).toBe(3);

    for (const { job } of jobs) {
      const done = await waitForPaidJob(
        core,
        ns,
        job.workflow.jobId,
        'settled',
        (s) => s.settlement?.outcome !== undefined,
      );
      expect(done.job.status.code).toBe(70);
      expect(done.settlement!.outcome).toMatchObject({ kind: 'claimed' });
      // The engine's first claim went through: no clash made it prepare another.
      expect(done.settlement!.intent).toMatchObject({ action: 'claim', attempt: 1 });
      expect(done.settlement!.outcome!.txHash).toBe(done.settlement!.intent!.tx.hash);
    }
    const open = new Set((await chain.locks()).map((l) => l.jobId));
    for (const { jobId } of locked) expect(open.has(escrowLockId(jobId))).toBe(true);

    // The lease is free again, and names the last nonce sent from the key.
    const lease: V1Lease = await loadKubeConfig(env.kubeconfig)
      .makeApiClient(CoordinationV1Api)
      .readNamespacedLease({ name: PROVIDER_TX_LEASE, namespace: env.namespaces.system });
    expect(lease.spec?.holderIdentity).toBeUndefined();
    const recorded = readRecordedNonce(lease.metadata?.annotations ?? {});
    expect(recorded?.sender).toBe(provider.address.toLowerCase());
    expect(lease.metadata?.annotations?.[NONCE_ANNOTATION]).toBeDefined();

    // Every lock given back, from all pods at once, still one nonce each.
    const releases = await Promise.allSettled(locked.map((l, i) => pods[i % PODS]!.releaseJobPayment(l.locked)));
    expect(releases.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []))).toEqual([]);
    const still = new Set((await chain.locks()).map((l) => l.jobId));
    for (const { jobId } of locked) expect(still.has(escrowLockId(jobId))).toBe(false);
    for (const payer of payers) expect((await chain.funds(payer.address)).locked).toBe(0n);
  });
});
