import { CoordinationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { EscrowContract, approve, type Config } from '@oceanprotocol/lib-v8';
import { Contract, JsonRpcProvider, NonceManager, Wallet, formatUnits, parseEther, parseUnits } from 'ethers';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../devcluster/local-stack.ts';
import { oceanArtifact } from '../../devcluster/chain.ts';
import { succeeded } from '../../devcluster/receipts.ts';
import { waitFor } from '../../devcluster/processes.ts';
import { isFinal } from '../../lib/job/status.ts';
import { loadKubeConfig } from '../../lib/kube/client.ts';
import { escrowClient, lockJobPayment, tokenDecimals, type EscrowClient } from '../../lib/payment/escrow.ts';
import { escrowLockId, PaymentRefused } from '../../lib/payment/lock-policy.ts';
import { quoteEscrowPayment, type EscrowQuote } from '../../lib/payment/quote.ts';
import type { JobPayment } from '../../lib/payment/record.ts';
import { charge, isSettling } from '../../lib/payment/settlement-plan.ts';
import { FileServer } from '../support/engine-jobs.ts';
import {
  createPaidJob as createPaidJobIn,
  waitForPaidJob as waitForPaidJobIn,
  type PaidJobState,
} from '../support/escrow-chain.ts';
import { buildJob, sha256, shellAlgorithm, type BuiltJob } from '../support/job-fixtures.ts';

/**
 * Paid compute with escrow on the real platform: the consumer deposits and authorizes with ocean.js 8.6.2's
 * EscrowContract unchanged, the provider locks the job's price (lockJobPayment), the engine runs the job and claims
 * what it cost once, also when it is SIGKILLed between recording its claim and the claim reaching the chain; a job
 * that fails before its algorithm runs gives the whole lock back; and the refusals.
 */

const env = inject('platform');
const ns = env.namespaces.jobs;
let core: CoreV1Api;
let rpc: JsonRpcProvider;
let stack: LocalStack;
let files: FileServer;
let client: EscrowClient;
let decimals: number;
let funder: NonceManager;

const DATASET = 'a,b\n1,2\n';
const OCEAN = (): string => env.ocean.Ocean!.toLowerCase();
const ERC20 = [
  'function balanceOf(address) view returns (uint256)',
  'function transfer(address,uint256) returns (bool)',
];
// ocean.js reads these from its Config for gas only.
const OCEAN_JS_CONFIG = { chainId: env.chainId, gasFeeMultiplier: 1 } as unknown as Config;

const FEES = () => ({
  [String(env.chainId)]: [
    {
      feeToken: OCEAN(),
      prices: [
        { id: 'cpu', price: 1 },
        { id: 'ram', price: 0.5 },
        { id: 'disk', price: 0.1 },
      ],
    },
  ],
});
const RESOURCES = [
  { id: 'cpu', amount: 1 },
  { id: 'ram', amount: 1 },
  { id: 'disk', amount: 1 },
];

async function rpcCall(method: string, params: unknown[] = []): Promise<unknown> {
  return rpc.send(method, params);
}

/** A fresh payer with gas and OCEAN (each scenario its own, so one's authorization does not shape another's). */
async function newPayer(ocean = '100'): Promise<Wallet> {
  const payer = new Wallet(Wallet.createRandom().privateKey, rpc);
  await succeeded(await funder.sendTransaction({ to: payer.address, value: parseEther('1') }), 'gas for the payer');
  const token = new Contract(OCEAN(), ERC20, funder);
  await succeeded(await token.getFunction('transfer')(payer.address, parseUnits(ocean, decimals)), 'OCEAN for payer');
  return payer;
}

/** What a consumer does with ocean.js 8.x before a paid start: approve, deposit, authorize the provider. */
async function depositAndAuthorize(
  payer: Wallet,
  deposit: string,
  auth: { maxLockedAmount: string; maxLockSeconds: string; maxLockCounts: string },
): Promise<void> {
  const escrow = new EscrowContract(env.ocean.Escrow!, payer, env.chainId, OCEAN_JS_CONFIG);
  await approve(payer, OCEAN_JS_CONFIG, payer.address, OCEAN(), env.ocean.Escrow!, deposit);
  await escrow.deposit(OCEAN(), deposit);
  await escrow.authorize(OCEAN(), client.signer.address, auth.maxLockedAmount, auth.maxLockSeconds, auth.maxLockCounts);
  // ocean.js logs a failed transaction rather than throwing: check that both landed.
  expect((await escrowFunds(payer.address)).available).toBe(parseUnits(deposit, decimals));
  const auths = (await new Contract(env.ocean.Escrow!, oceanArtifact('Escrow').abi, rpc).getFunction(
    'getAuthorizations',
  )(OCEAN(), payer.address, client.signer.address)) as unknown[];
  expect(auths).toHaveLength(1);
}

const quote = (maxJobDurationSeconds = 120): EscrowQuote =>
  quoteEscrowPayment({
    fees: FEES(),
    chainId: env.chainId,
    token: OCEAN(),
    decimals,
    resources: RESOURCES,
    maxJobDurationSeconds,
    minJobDurationSeconds: 60,
    escrowAddress: env.ocean.Escrow,
    payee: client.signer.address,
  });

/** ocean.js 8.6.2's authorize converts maxLockSeconds and maxLockCounts with the token's decimals, as amounts. */
const asOceanJsUnits = (n: number | bigint): string => formatUnits(BigInt(n), decimals);

async function escrowFunds(payer: string): Promise<{ available: bigint; locked: bigint }> {
  const escrow = new Contract(env.ocean.Escrow!, oceanArtifact('Escrow').abi, rpc);
  const f = (await escrow.getFunction('getUserFunds')(payer, OCEAN())) as { available: bigint; locked: bigint };
  return { available: f.available, locked: f.locked };
}

const balanceOf = async (address: string): Promise<bigint> =>
  (await new Contract(OCEAN(), ERC20, rpc).getFunction('balanceOf')(address)) as bigint;

async function opcCollector(): Promise<string> {
  const router = new Contract(env.ocean.Router!, oceanArtifact('FactoryRouter').abi, rpc);
  return (await router.getFunction('getOPCCollector')()) as string;
}

async function opcFee(amount: bigint): Promise<bigint> {
  const router = new Contract(env.ocean.Router!, oceanArtifact('FactoryRouter').abi, rpc);
  return (amount * ((await router.getFunction('getOPCFee')(OCEAN())) as bigint)) / 10n ** 18n;
}

const createPaidJob = (job: BuiltJob, payment: JobPayment): Promise<void> => createPaidJobIn(core, ns, job, payment);
const waitForPaidJob = (jobId: string, what: string, until: (s: PaidJobState) => boolean): Promise<PaidJobState> =>
  waitForPaidJobIn(core, ns, jobId, what, until);

async function claimedEvents(payment: JobPayment): Promise<Array<{ amount: bigint; tx: string }>> {
  const escrow = new Contract(env.ocean.Escrow!, oceanArtifact('Escrow').abi, rpc);
  const logs = await escrow.queryFilter(
    escrow.filters.Claimed!(payment.payee, null, null, payment.payer),
    payment.lockBlock,
  );
  return logs
    .map((l) => ({ parsed: escrow.interface.parseLog(l)!, tx: l.transactionHash }))
    .filter((e) => e.parsed.args.jobId === BigInt(payment.lockId))
    .map((e) => ({ amount: e.parsed.args.amount as bigint, tx: e.tx }));
}

function jobFor(payer: Wallet, algorithm = shellAlgorithm('echo paid > "$OUTPUTS/out.txt"; sleep 1')): BuiltJob {
  return buildJob({
    environment: stack.environmentId,
    owner: payer.address.toLowerCase(),
    datasets: [{ files: [{ url: files.url('/data.csv'), checksum: sha256(DATASET) }] }],
    algorithm,
    maxDurationSeconds: 120,
  });
}

beforeAll(async () => {
  core = loadKubeConfig(env.kubeconfig).makeApiClient(CoreV1Api);
  // No answer cached: ocean.js reads each payer's nonce right after its previous transaction.
  rpc = new JsonRpcProvider(env.rpcUrl, undefined, { staticNetwork: true, pollingInterval: 100, cacheTimeout: -1 });
  funder = new NonceManager(new Wallet(env.keys.deployer, rpc));
  // start's side of the key, sharing the provider transaction lease with the engine.
  client = escrowClient({
    rpcUrl: env.rpcUrl,
    chainId: env.chainId,
    key: env.keys.provider,
    escrowAddress: env.ocean.Escrow!,
    requestTimeoutMs: 10_000,
    leases: loadKubeConfig(env.kubeconfig).makeApiClient(CoordinationV1Api),
    namespace: env.namespaces.system,
  });
  decimals = await tokenDecimals(rpc, OCEAN());
  files = await new FileServer().start(env);
  files.file('/data.csv', DATASET);
  stack = await startLocalStack(env, { engine: true });
});

afterAll(async () => {
  await rpc?.send('evm_setAutomine', [true]).catch(() => undefined);
  await stack?.stop();
  await files?.close();
  rpc?.destroy();
});

describe('paid compute with escrow', () => {
  it('the dev chain names the Escrow contract, and it points at the router', async () => {
    expect(env.ocean.Escrow).toMatch(/^0x[0-9a-fA-F]{40}$/);
    const escrow = new Contract(env.ocean.Escrow!, oceanArtifact('Escrow').abi, rpc);
    expect(((await escrow.getFunction('factoryRouter')()) as string).toLowerCase()).toBe(
      env.ocean.Router!.toLowerCase(),
    );
  });

  it('locks the quoted price, runs the job, and claims what it cost once: the provider gets the cost less the OPC fee', async () => {
    const payer = await newPayer();
    const q = quote();
    // (1 + 0.5 + 0.1) OCEAN a minute for 2 minutes.
    expect(q.payment.amount).toBe(parseUnits('3.2', decimals).toString());
    await depositAndAuthorize(payer, '10', {
      maxLockedAmount: '10',
      maxLockSeconds: asOceanJsUnits(q.payment.minLockSeconds),
      maxLockCounts: asOceanJsUnits(5),
    });
    const job = jobFor(payer);
    const payment = await lockJobPayment(client, { jobId: job.workflow.jobId, owner: payer.address }, q);
    expect(payment).toMatchObject({ amount: q.payment.amount, lockId: escrowLockId(job.workflow.jobId).toString() });
    expect(await escrowFunds(payer.address)).toEqual({
      available: parseUnits('10', decimals) - BigInt(q.payment.amount),
      locked: BigInt(q.payment.amount),
    });
    const providerBefore = await balanceOf(client.signer.address);
    const collectorBefore = await balanceOf(await opcCollector());

    await createPaidJob(job, payment);
    const done = await waitForPaidJob(job.workflow.jobId, 'settled', (s) => s.settlement?.outcome !== undefined);

    expect(done.job.status.code).toBe(70);
    const owed = charge(
      { final: true, algorithm: done.job.status.stages.algorithm, dateFinished: done.job.status.dateFinished },
      payment,
      BigInt(payment.amount),
    );
    // A ~1 s run is billed the environment's 60 s minimum: 1.6 OCEAN.
    expect(owed).toEqual({ amount: parseUnits('1.6', decimals), billedSeconds: 60 });
    expect(done.settlement!.outcome).toMatchObject({ kind: 'claimed', amount: owed.amount.toString() });
    expect(done.settlement!.intent).toMatchObject({ action: 'claim', amount: owed.amount.toString(), attempt: 1 });
    const fee = await opcFee(owed.amount);
    expect((await balanceOf(client.signer.address)) - providerBefore).toBe(owed.amount - fee);
    expect((await balanceOf(await opcCollector())) - collectorBefore).toBe(fee);
    expect(await escrowFunds(payer.address)).toEqual({
      available: parseUnits('10', decimals) - owed.amount,
      locked: 0n,
    });
    expect(await claimedEvents(payment)).toEqual([{ amount: owed.amount, tx: done.settlement!.outcome!.txHash }]);
    expect(isSettling(true, done.payment, done.settlement)).toBe(false);
  });

  it('claims exactly once when the engine is SIGKILLed after recording its claim and before it reached the chain', async () => {
    const payer = await newPayer();
    const q = quote();
    await depositAndAuthorize(payer, '10', {
      maxLockedAmount: '10',
      maxLockSeconds: asOceanJsUnits(q.payment.minLockSeconds),
      maxLockCounts: asOceanJsUnits(5),
    });
    const job = jobFor(payer);
    const payment = await lockJobPayment(client, { jobId: job.workflow.jobId, owner: payer.address }, q);
    const providerBefore = await balanceOf(client.signer.address);

    // Transactions now wait in anvil's pool until mined by hand: the claim is recorded and sent, but not mined.
    await rpcCall('evm_setAutomine', [false]);
    await createPaidJob(job, payment);
    const pending = await waitForPaidJob(
      job.workflow.jobId,
      'its claim recorded',
      (s) => s.settlement?.intent !== undefined,
    );
    expect(isFinal(pending.job.status.code)).toBe(true);
    expect(isSettling(true, pending.payment, pending.settlement)).toBe(true);
    const intent = pending.settlement!.intent!;
    await waitFor(
      `claim ${intent.tx.hash} in the pool`,
      async () => (await rpc.getTransaction(intent.tx.hash)) !== null,
      10_000,
    );

    const engine = stack.processes.find((p) => p.name === 'engine')!;
    process.kill(engine.child.pid!, 'SIGKILL');
    expect(await engine.exited).toBe('SIGKILL');
    // As if the engine had died before sending: the transaction is gone from the pool; nothing was mined.
    await rpcCall('anvil_dropTransaction', [intent.tx.hash]);
    expect(await rpc.getTransaction(intent.tx.hash)).toBeNull();
    await rpcCall('evm_setAutomine', [true]);
    expect(await claimedEvents(payment)).toEqual([]);

    await stack.stop();
    stack = await startLocalStack(env, { engine: true });
    const done = await waitForPaidJob(
      job.workflow.jobId,
      'settled after the restart',
      (s) => s.settlement?.outcome !== undefined,
    );

    // The restarted engine sent the very transaction it had recorded, and no other.
    expect(done.settlement!.intent).toEqual(intent);
    expect(done.settlement!.outcome).toMatchObject({ kind: 'claimed', amount: intent.amount, txHash: intent.tx.hash });
    const claims = await claimedEvents(payment);
    expect(claims).toEqual([{ amount: BigInt(intent.amount), tx: intent.tx.hash }]);
    const fee = await opcFee(BigInt(intent.amount));
    expect((await balanceOf(client.signer.address)) - providerBefore).toBe(BigInt(intent.amount) - fee);
    expect(await escrowFunds(payer.address)).toEqual({
      available: parseUnits('10', decimals) - BigInt(intent.amount),
      locked: 0n,
    });
  });

  it('records the claim that was mined while the engine was dead, without sending another', async () => {
    const payer = await newPayer();
    const q = quote();
    await depositAndAuthorize(payer, '10', {
      maxLockedAmount: '10',
      maxLockSeconds: asOceanJsUnits(q.payment.minLockSeconds),
      maxLockCounts: asOceanJsUnits(5),
    });
    const job = jobFor(payer);
    const payment = await lockJobPayment(client, { jobId: job.workflow.jobId, owner: payer.address }, q);
    const nonceBefore = await rpc.getTransactionCount(client.signer.address, 'latest');

    await rpcCall('evm_setAutomine', [false]);
    await createPaidJob(job, payment);
    const pending = await waitForPaidJob(
      job.workflow.jobId,
      'its claim recorded',
      (s) => s.settlement?.intent !== undefined,
    );
    const intent = pending.settlement!.intent!;
    await waitFor(
      `claim ${intent.tx.hash} in the pool`,
      async () => (await rpc.getTransaction(intent.tx.hash)) !== null,
      10_000,
    );
    const engine = stack.processes.find((p) => p.name === 'engine')!;
    process.kill(engine.child.pid!, 'SIGKILL');
    expect(await engine.exited).toBe('SIGKILL');
    // The claim reaches the chain while no engine runs.
    await rpcCall('evm_mine');
    await rpcCall('evm_setAutomine', [true]);
    expect((await rpc.getTransactionReceipt(intent.tx.hash))?.status).toBe(1);

    await stack.stop();
    stack = await startLocalStack(env, { engine: true });
    const done = await waitForPaidJob(
      job.workflow.jobId,
      'settled after the restart',
      (s) => s.settlement?.outcome !== undefined,
    );

    expect(done.settlement!.intent).toEqual(intent);
    expect(done.settlement!.outcome).toMatchObject({ kind: 'claimed', amount: intent.amount, txHash: intent.tx.hash });
    expect(await claimedEvents(payment)).toEqual([{ amount: BigInt(intent.amount), tx: intent.tx.hash }]);
    // The provider sent one transaction for this job: the claim.
    expect(await rpc.getTransactionCount(client.signer.address, 'latest')).toBe(nonceBefore + 1);
  });

  it('gives the whole lock back at once when the job fails before its algorithm runs', async () => {
    const payer = await newPayer();
    const q = quote();
    await depositAndAuthorize(payer, '10', {
      maxLockedAmount: '10',
      maxLockSeconds: asOceanJsUnits(q.payment.minLockSeconds),
      maxLockCounts: asOceanJsUnits(5),
    });
    const job = buildJob({
      environment: stack.environmentId,
      owner: payer.address.toLowerCase(),
      datasets: [{ files: [{ url: files.url('/missing.csv') }] }],
      algorithm: shellAlgorithm('echo never runs'),
    });
    const payment = await lockJobPayment(client, { jobId: job.workflow.jobId, owner: payer.address }, q);
    expect((await escrowFunds(payer.address)).locked).toBe(BigInt(q.payment.amount));
    const providerBefore = await balanceOf(client.signer.address);

    await createPaidJob(job, payment);
    const done = await waitForPaidJob(job.workflow.jobId, 'settled', (s) => s.settlement?.outcome !== undefined);

    expect(done.job.status.code).toBe(31);
    expect(done.job.status.stages.algorithm).toBeUndefined();
    expect(done.settlement!.intent).toMatchObject({ action: 'release', amount: '0' });
    expect(done.settlement!.outcome).toMatchObject({ kind: 'released', amount: '0' });
    expect(await escrowFunds(payer.address)).toEqual({ available: parseUnits('10', decimals), locked: 0n });
    expect(await balanceOf(client.signer.address)).toBe(providerBefore);
  });

  it('refuses to lock with insufficient escrow funds, naming what is available and needed', async () => {
    const payer = await newPayer();
    const q = quote();
    await depositAndAuthorize(payer, '1', {
      maxLockedAmount: '10',
      maxLockSeconds: asOceanJsUnits(q.payment.minLockSeconds),
      maxLockCounts: asOceanJsUnits(5),
    });
    const job = jobFor(payer);
    const err = await lockJobPayment(client, { jobId: job.workflow.jobId, owner: payer.address }, q).catch((e) => e);
    expect(err).toBeInstanceOf(PaymentRefused);
    expect(err).toMatchObject({ reason: 'insufficientEscrow' });
    expect((err as Error).message).toBe(
      `insufficient escrow funds: ${parseUnits('1', decimals)} available in ${OCEAN()}, the job needs ${q.payment.amount}`,
    );
    expect(await escrowFunds(payer.address)).toEqual({ available: parseUnits('1', decimals), locked: 0n });
  });

  it('refuses to lock when the authorization does not last as long as the lock must', async () => {
    const payer = await newPayer();
    const q = quote();
    await depositAndAuthorize(payer, '10', {
      maxLockedAmount: '10',
      maxLockSeconds: asOceanJsUnits(q.payment.minLockSeconds - 1),
      maxLockCounts: asOceanJsUnits(5),
    });
    const job = jobFor(payer);
    const err = await lockJobPayment(client, { jobId: job.workflow.jobId, owner: payer.address }, q).catch((e) => e);
    expect(err).toBeInstanceOf(PaymentRefused);
    expect(err).toMatchObject({ reason: 'authorizationExpired' });
    expect(await escrowFunds(payer.address)).toEqual({ available: parseUnits('10', decimals), locked: 0n });
  });
});
