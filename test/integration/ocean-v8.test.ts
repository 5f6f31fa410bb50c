import { CoreV1Api } from '@kubernetes/client-node';
import { Contract, JsonRpcProvider, NonceManager, Wallet, ZeroAddress, formatUnits, parseUnits } from 'ethers';
import { EscrowContract, ProviderInstance as V8, approve, type Config } from '@oceanprotocol/lib-v8';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { LOCAL_OUTPUT_KEY, startLocalStack, type LocalStack } from '../../devcluster/local-stack.ts';
import { datasetDdo, orderAsset, publishAsset, type PublishedAsset } from '../../devcluster/ocean-assets.ts';
import { ProviderInstance as V3 } from '../../devcluster/ocean-client.ts';
import { V2_ENDPOINTS } from '../../lib/api/endpoints.ts';
import type { ProviderFee } from '../../lib/chain/provider-fee.ts';
import { NONCE_FLOOR } from '../../lib/auth/nonce-policy.ts';
import { waitFor } from '../../devcluster/processes.ts';
import { nodeContainer, OceanFlow, ref, ScriptedFileServer, sha256hex } from '../support/ocean-flow.ts';
import { containerSectionChecksum } from '../../lib/access/algo-checksums.ts';
import { oceanArtifact } from '../../devcluster/chain.ts';
import { succeeded } from '../../devcluster/receipts.ts';
import { readJobConfigMap } from '../../lib/job/configmap.ts';
import { jobNames } from '../../lib/job/names.ts';
import { loadKubeConfig } from '../../lib/kube/client.ts';
import { readPayment, readSettlement } from '../../lib/payment/record.ts';
import { charge } from '../../lib/payment/settlement-plan.ts';

/**
 * The v2 API (issue 14) as ocean.js 8.x's ProviderInstance uses it, unchanged, against the local platform: base URL
 * `<provider>/v2`, command-bound signatures with their own nonces, auth tokens, v2 environments, initializeCompute,
 * a free job on two datasets from start to its results and streamed log, a paid job locked in the escrow and
 * settled (ocean.js 8.x's EscrowContract deposits and authorizes), stop, and the refusals. Published and ordered on
 * the local chain like the v1 tests; the engine runs the jobs on the local node.
 */

const env = inject('platform');
const rpc = new JsonRpcProvider(env.rpcUrl);
const consumer = new Wallet(env.keys.consumer, rpc);
/** Named by the consumer as an additional viewer of its first job. */
const viewer = new Wallet(env.keys.other, rpc);
/** Neither owner nor viewer, and not on the free tier's access list. */
const stranger = new Wallet(env.keys.publisher, rpc);
const RESOURCES = [
  { id: 'cpu', amount: 0.5 },
  { id: 'ram', amount: 0.5 },
  { id: 'disk', amount: 0.5 },
];
const OCEAN = (): string => env.ocean.Ocean!.toLowerCase();
/** The environment's escrow prices, per resource per minute: RESOURCES cost 0.5 + 0.25 + 0.05 = 0.8 OCEAN a minute. */
const ESCROW_FEES = () => ({
  [String(env.chainId)]: [
    {
      feeToken: OCEAN(),
      prices: [
        { id: 'cpu' as const, price: 1 },
        { id: 'ram' as const, price: 0.5 },
        { id: 'disk' as const, price: 0.1 },
      ],
    },
  ],
});
/** A free job names a token the environment does not price: in one it prices, initializeCompute quotes a paid job. */
const UNPRICED = ZeroAddress;

let stack: LocalStack;
let flow: OceanFlow;
let files: ScriptedFileServer;
let v2: string;
let datasets: PublishedAsset[];
let algorithm: PublishedAsset;
let slowAlgorithm: PublishedAsset;

/** Prints a tick every 300 ms (what the streamed log shows), then writes how many datasets it was given. */
const TICKING = `
const fs = require('fs');
const path = require('path');
let i = 0;
const t = setInterval(() => {
  console.log('tick ' + ++i);
  if (i === 15) {
    clearInterval(t);
    fs.writeFileSync(path.join(process.env.OUTPUTS, 'count.txt'), 'datasets ' + JSON.parse(process.env.DIDS).length + '\\n');
  }
}, 300);
`;
const SLOW = "console.log('started'); setTimeout(() => console.log('never'), 300000);\n";

type V8Job = {
  jobId: string;
  status: number;
  statusText: string;
  owner: string;
  results: { index: number; filename: string; type: string }[];
  metadata: Record<string, unknown>;
  additionalViewers: string[];
  maxJobDuration: number;
  terminationDetails?: { reason: string };
};

const one = (r: unknown): V8Job => (Array.isArray(r) ? r[0] : r) as V8Job;

function toFee(f: { v: unknown; validUntil: unknown; providerFeeAmount: unknown }): ProviderFee {
  return {
    ...(f as unknown as ProviderFee),
    v: Number(f.v),
    validUntil: Number(f.validUntil),
    providerFeeAmount: String(f.providerFeeAmount),
  };
}

/** ocean.js 8's initializeCompute on the free tier, then every asset ordered with the fee it quoted. */
async function initializeAndOrder(
  sets: readonly PublishedAsset[],
  algo: PublishedAsset,
): Promise<{ datasets: string[]; algorithm: string }> {
  const init = (await V8.initializeCompute(
    sets.map(ref),
    ref(algo),
    stack.environmentId,
    UNPRICED,
    60,
    v2,
    consumer.address,
    RESOURCES,
    env.chainId,
  )) as unknown as {
    datasets: { providerFee: ProviderFee }[];
    algorithm: { providerFee: ProviderFee };
    payment?: unknown;
  };
  expect(init.payment).toBeUndefined();
  expect(init.datasets).toHaveLength(sets.length);
  const order = (asset: PublishedAsset, fee: ProviderFee) =>
    orderAsset({
      rpcUrl: env.rpcUrl,
      consumerKey: env.keys.consumer,
      datatokenAddress: asset.datatokenAddresses[0]!,
      serviceIndex: 0,
      providerFee: toFee(fee),
    });
  const datasetTxs: string[] = [];
  for (const [i, asset] of sets.entries()) {
    expect(String(init.datasets[i]!.providerFee.providerFeeAmount)).toBe('0');
    datasetTxs.push(await order(asset, init.datasets[i]!.providerFee));
  }
  return { datasets: datasetTxs, algorithm: await order(algo, init.algorithm.providerFee) };
}

async function statusOf(jobId: string, who: Wallet | string = consumer): Promise<V8Job> {
  return one(await V8.computeStatus(v2, who, jobId));
}

async function untilStatus(jobId: string, done: (status: number) => boolean, what: string): Promise<V8Job> {
  let job: V8Job | undefined;
  await waitFor(
    `job ${jobId} to reach ${what}`,
    async () => {
      job = await statusOf(jobId);
      return done(job.status);
    },
    180_000,
    500,
  );
  return job!;
}

async function text(stream: AsyncIterable<Uint8Array>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}

beforeAll(async () => {
  stack = await startLocalStack(env, {
    environment: {
      escrowFees: ESCROW_FEES(),
      minimums: { cpu: 0.5, memoryMiB: 256, diskMiB: 256 },
      free: {
        cpu: 1,
        memoryMiB: 512,
        diskMiB: 512,
        maxJobDurationSeconds: 120,
        maxConcurrentJobs: 2,
        access: { addresses: [consumer.address.toLowerCase(), viewer.address.toLowerCase()] },
      },
    },
  });
  v2 = `${stack.providerUrl}/v2`;
  flow = new OceanFlow(env, stack);
  files = await new ScriptedFileServer().start(env);
  const algoUrl = files.file('/algorithm.js', TICKING);
  const slowUrl = files.file('/slow.js', SLOW);
  algorithm = await flow.publishAlgorithm([algoUrl]);
  slowAlgorithm = await flow.publishAlgorithm([slowUrl]);
  const trusted = [
    { did: algorithm.did, code: TICKING },
    { did: slowAlgorithm.did, code: SLOW },
  ].map((a) => ({
    did: a.did,
    filesChecksum: sha256hex(a.code),
    containerSectionChecksum: containerSectionChecksum(nodeContainer(env)),
  }));
  // One dataset names the provider by its v1 base URL, the other by its v2 base URL: both are this provider.
  const a = files.file('/dataset-a.csv', 'a,1\n');
  const b = files.file('/dataset-b.csv', 'b,1\n');
  datasets = [
    await flow.publishDataset(a, { publisherTrustedAlgorithms: trusted }),
    await publishAsset({
      rpcUrl: env.rpcUrl,
      ocean: env.ocean,
      publisherKey: env.keys.publisher,
      providerAddress: flow.provider.address,
      encryptFilesTo: flow.provider.signingKey.publicKey,
      mintTo: consumer.address,
      ddo: datasetDdo({
        name: 'dataset-b',
        files: [{ type: 'url', url: b, method: 'GET' }],
        serviceEndpoint: v2,
        compute: { publisherTrustedAlgorithms: trusted },
      }),
    }),
  ];
}, 300_000);

afterAll(async () => {
  await files?.stop();
  await stack?.stop();
});

describe('the v2 base URL', () => {
  it("serves ocean-node's root document: its endpoints by ocean-node's names, chain ids and the node's public key", async () => {
    const root = (await (await fetch(v2)).json()) as {
      chainIds: number[];
      providerAddress: string;
      nodePublicKey: string;
      serviceEndpoints: Record<string, [string, string]>;
    };
    expect(root.chainIds).toEqual([env.chainId]);
    expect(root.providerAddress).toBe(flow.provider.address);
    // The output key's (c2d-output-key), which only publish pods hold: see ocean-v8-output.test.ts.
    expect(root.nodePublicKey).toBe(new Wallet(LOCAL_OUTPUT_KEY).signingKey.compressedPublicKey);
    expect(Object.keys(root.serviceEndpoints).sort()).toEqual(V2_ENDPOINTS.map((e) => e.service).sort());
    expect(root.serviceEndpoints.freeCompute).toEqual(['POST', '/api/services/freeCompute']);
  });

  it('counts v2 nonces apart from v1 nonces', async () => {
    const before = await V8.getNonce(v2, consumer.address);
    expect(before).toBeLessThan(Number(NONCE_FLOOR));
    const token = await V8.generateAuthToken(consumer, v2);
    expect(await V8.getNonce(v2, consumer.address)).toBe(before + 1);
    expect(Number(await V3.getNonce(stack.providerUrl, consumer.address))).toBeGreaterThanOrEqual(Number(NONCE_FLOOR));
    await V8.invalidateAuthToken(consumer, token, v2);
  });
});

describe('compute environments', () => {
  it("are ocean-node's v2 environments: resources with totals, minimums, maxima and use, and the free tier", async () => {
    const envs = (await V8.getComputeEnvironments(v2)) as unknown as {
      id: string;
      consumerAddress: string;
      maxJobDuration: number;
      fees: Record<string, unknown[]>;
      resources: { id: string; total: number; min: number; max: number; inUse: number }[];
      free: { maxJobDuration: number; maxJobs: number; resources: { id: string; max: number }[] };
      runningJobs: number;
      queuedJobs: number;
    }[];
    expect(Array.isArray(envs)).toBe(true);
    const e = envs.find((x) => x.id === stack.environmentId)!;
    expect(e.consumerAddress).toBe(flow.provider.address.toLowerCase());
    expect(e.maxJobDuration).toBe(600);
    expect(e.fees).toEqual(ESCROW_FEES());
    expect(e.resources.find((r) => r.id === 'cpu')).toMatchObject({ total: 5, min: 0.5, max: 1 });
    expect(e.resources.find((r) => r.id === 'ram')).toMatchObject({ total: 5, min: 0.25, max: 1 });
    expect(e.free).toMatchObject({ maxJobDuration: 120, maxJobs: 2 });
    expect(e.free.resources.find((r) => r.id === 'ram')!.max).toBe(0.5);
    expect(typeof e.runningJobs).toBe('number');
    expect(typeof e.queuedJobs).toBe('number');
  });
});

describe('a free job on two datasets, through ocean.js 8.x', () => {
  let jobId: string;

  it('starts on the free tier with resources, metadata and an additional viewer', async () => {
    const orders = await initializeAndOrder(datasets, algorithm);
    const started = one(
      await V8.freeComputeStart(
        v2,
        consumer,
        stack.environmentId,
        datasets.map((d, i) => ({ ...ref(d), transferTxId: orders.datasets[i]! })),
        { ...ref(algorithm), transferTxId: orders.algorithm },
        RESOURCES,
        { purpose: 'issue 14' },
        [viewer.address],
      ),
    );
    jobId = started.jobId;
    expect(started.owner).toBe(consumer.address);
    expect(started.metadata).toEqual({ purpose: 'issue 14' });
    expect(started.additionalViewers).toEqual([viewer.address]);
    expect(started.maxJobDuration).toBeLessThanOrEqual(120);
    expect([0, 1]).toContain(started.status);
  });

  it("streams the running algorithm's log", async () => {
    await untilStatus(jobId, (s) => s >= 40, 'running (40)');
    // Status 40 comes with the algorithm's pod; until its container starts (after the pod's isolation check) the
    // stream answers 404, which ocean.js gives as null: ask again, as a client would.
    let stream: Awaited<ReturnType<typeof V8.computeStreamableLogs>> = null;
    await waitFor(
      "the algorithm's log stream",
      async () => (stream = await V8.computeStreamableLogs(v2, consumer, jobId)) !== null,
      30_000,
      500,
    );
    const seen: string[] = [];
    for await (const chunk of stream as AsyncIterable<Uint8Array>) {
      seen.push(Buffer.from(chunk).toString('utf8'));
      if (seen.join('').includes('tick 3')) break;
    }
    expect(seen.join('')).toMatch(/tick 1\n/);
  });

  it('finishes with 70 and serves its output to the owner and to the viewer, not to a stranger', async () => {
    const job = await untilStatus(jobId, (s) => s === 70, 'finished (70)');
    expect(job.statusText).toBe('Job finished');
    const output = job.results.find((r) => r.filename === 'count.txt')!;
    expect(await text(await V8.getComputeResult(v2, consumer, jobId, output.index))).toBe('datasets 2\n');
    expect(await text(await V8.getComputeResult(v2, viewer, jobId, output.index))).toBe('datasets 2\n');
    expect((await statusOf(jobId, viewer)).jobId).toBe(jobId);
    await expect(V8.getComputeResult(v2, stranger, jobId, output.index)).rejects.toThrow(/403/);
    await expect(statusOf(jobId, stranger)).rejects.toThrow();
    const log = job.results.find((r) => r.type === 'algorithmLog')!;
    expect(await text(await V8.getComputeResult(v2, consumer, jobId, log.index))).toMatch(/tick 15\n/);
  });
});

describe('a paid job, through ocean.js 8.x and its escrow', () => {
  // No answer cached: ocean.js reads the payer's nonce right after its previous transaction.
  const chain = new JsonRpcProvider(env.rpcUrl, undefined, {
    staticNetwork: true,
    pollingInterval: 100,
    cacheTimeout: -1,
  });
  const payer = new Wallet(env.keys.consumer, chain);
  // ocean.js reads these from its Config for gas only.
  const oceanJsConfig = { chainId: env.chainId, gasFeeMultiplier: 1 } as unknown as Config;
  const escrowAbi = () => oceanArtifact('Escrow').abi;
  const ERC20 = [
    'function balanceOf(address) view returns (uint256)',
    'function transfer(address,uint256) returns (bool)',
  ];
  const ocean = (n: string): bigint => parseUnits(n, 18);
  const balanceOf = async (a: string): Promise<bigint> =>
    (await new Contract(OCEAN(), ERC20, chain).getFunction('balanceOf')(a)) as bigint;
  const funds = async (): Promise<{ available: bigint; locked: bigint }> => {
    const f = (await new Contract(env.ocean.Escrow!, escrowAbi(), chain).getFunction('getUserFunds')(
      payer.address,
      OCEAN(),
    )) as { available: bigint; locked: bigint };
    return { available: f.available, locked: f.locked };
  };
  const opcFee = async (amount: bigint): Promise<bigint> => {
    const router = new Contract(env.ocean.Router!, oceanArtifact('FactoryRouter').abi, chain);
    return (amount * ((await router.getFunction('getOPCFee')(OCEAN())) as bigint)) / 10n ** 18n;
  };
  const jobConfigMap = async (jobId: string) =>
    loadKubeConfig(env.kubeconfig)
      .makeApiClient(CoreV1Api)
      .readNamespacedConfigMap({ name: jobNames(jobId).configMap, namespace: env.namespaces.jobs });
  let orders: { datasets: string[]; algorithm: string };

  const start = (maxJobDuration: number) =>
    V8.computeStart(
      v2,
      consumer,
      stack.environmentId,
      [{ ...ref(datasets[0]!), transferTxId: orders.datasets[0]! }],
      { ...ref(algorithm), transferTxId: orders.algorithm },
      maxJobDuration,
      OCEAN(),
      RESOURCES,
      env.chainId,
    );

  afterAll(() => chain.destroy());

  it('initializeCompute quotes the escrow payment for the resources and duration', async () => {
    const init = (await V8.initializeCompute(
      [ref(datasets[0]!)],
      ref(algorithm),
      stack.environmentId,
      OCEAN(),
      600,
      v2,
      consumer.address,
      RESOURCES,
      env.chainId,
    )) as unknown as {
      datasets: { providerFee: ProviderFee }[];
      algorithm: { providerFee: ProviderFee };
      payment: Record<string, unknown>;
    };
    // 0.8 OCEAN a minute for 10 minutes, locked for the duration plus the hour the provider has to claim.
    expect(init.payment).toEqual({
      escrowAddress: env.ocean.Escrow!.toLowerCase(),
      chainId: env.chainId,
      payee: flow.provider.address.toLowerCase(),
      token: OCEAN(),
      amount: ocean('8').toString(),
      minLockSeconds: 600 + 3600,
    });
    const order = (asset: PublishedAsset, fee: ProviderFee) =>
      orderAsset({
        rpcUrl: env.rpcUrl,
        consumerKey: env.keys.consumer,
        datatokenAddress: asset.datatokenAddresses[0]!,
        serviceIndex: 0,
        providerFee: toFee(fee),
      });
    orders = {
      datasets: [await order(datasets[0]!, init.datasets[0]!.providerFee)],
      algorithm: await order(algorithm, init.algorithm.providerFee),
    };
  });

  it('is refused with insufficient escrow funds, then with an authorization whose locks do not last long enough', async () => {
    const funder = new NonceManager(new Wallet(env.keys.deployer, chain));
    const token = new Contract(OCEAN(), ERC20, funder);
    await succeeded(await token.getFunction('transfer')(payer.address, ocean('20')), 'OCEAN for the consumer');
    const escrow = new EscrowContract(env.ocean.Escrow!, payer, env.chainId, oceanJsConfig);
    await approve(payer, oceanJsConfig, payer.address, OCEAN(), env.ocean.Escrow!, '20');
    await escrow.deposit(OCEAN(), '0.5');
    // Locks of up to 2 minutes of compute (plus the claim hour). ocean.js 8.6.2 converts maxLockSeconds and
    // maxLockCounts with the token's decimals, like amounts: hence formatUnits.
    await escrow.authorize(OCEAN(), flow.provider.address, '10', formatUnits(120 + 3600, 18), formatUnits(5, 18));
    expect(await funds()).toEqual({ available: ocean('0.5'), locked: 0n });

    // 2 minutes cost 1.6 OCEAN; 0.5 is deposited.
    await expect(start(120)).rejects.toThrow(/insufficient escrow funds/);
    await escrow.deposit(OCEAN(), '10');
    expect((await funds()).available).toBe(ocean('10.5'));
    // 10 minutes (8 OCEAN) are funded, but their lock would outlast what the authorization allows.
    await expect(start(600)).rejects.toThrow(/allows locks of 3720 s; this job needs 4200 s/);
    expect(await funds()).toEqual({ available: ocean('10.5'), locked: 0n });
  });

  it('locks the price at start, shows 71 while the claim is not mined, then 70, and pays the provider what the job cost', async () => {
    const providerBefore = await balanceOf(flow.provider.address);
    const job = one(await start(120));
    expect(job.owner).toBe(consumer.address);
    expect(await funds()).toEqual({ available: ocean('10.5') - ocean('1.6'), locked: ocean('1.6') });

    await untilStatus(job.jobId, (s) => s >= 40, 'running (40)');
    // Blocks are now mined by hand: the engine's claim waits in the pool, and the job is settling meanwhile.
    await chain.send('evm_setAutomine', [false]);
    try {
      const settling = await untilStatus(job.jobId, (s) => s >= 70, 'settling (71)');
      expect(settling).toMatchObject({ status: 71, statusText: 'Job settling' });
      await waitFor(
        `the claim of job ${job.jobId} recorded`,
        async () => readSettlement(await jobConfigMap(job.jobId))?.intent !== undefined,
        30_000,
        200,
      );
      expect((await statusOf(job.jobId)).status).toBe(71);
    } finally {
      await chain.send('evm_setAutomine', [true]);
    }
    await chain.send('evm_mine', []);
    const done = await untilStatus(job.jobId, (s) => s === 70, 'finished (70)');
    expect(done.statusText).toBe('Job finished');

    const cm = await jobConfigMap(job.jobId);
    const settlement = readSettlement(cm)!;
    const status = readJobConfigMap(cm).status;
    // The algorithm ran a few seconds: billed one minute, 0.8 OCEAN; the rest of the lock goes back to the payer.
    const payment = readPayment(cm)!;
    expect(payment).toMatchObject({ amount: ocean('1.6').toString(), payer: consumer.address.toLowerCase() });
    const owed = charge(
      { final: true, algorithm: status.stages.algorithm, dateFinished: status.dateFinished },
      payment,
      BigInt(payment.amount),
    );
    expect(owed.amount).toBe(ocean('0.8'));
    expect(settlement.outcome).toMatchObject({ kind: 'claimed', amount: ocean('0.8').toString() });
    const fee = await opcFee(ocean('0.8'));
    expect((await balanceOf(flow.provider.address)) - providerBefore).toBe(ocean('0.8') - fee);
    expect(await funds()).toEqual({ available: ocean('10.5') - ocean('0.8'), locked: 0n });
  });
});

describe('auth tokens', () => {
  it('start, read and stop a job in place of signatures, and stop working once invalidated', async () => {
    const token = await V8.generateAuthToken(consumer, v2);
    expect(JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).address).toBe(consumer.address);
    const orders = await initializeAndOrder([datasets[0]!], slowAlgorithm);
    const job = one(
      await V8.freeComputeStart(
        v2,
        token,
        stack.environmentId,
        [{ ...ref(datasets[0]!), transferTxId: orders.datasets[0]! }],
        { ...ref(slowAlgorithm), transferTxId: orders.algorithm },
      ),
    );
    expect((await statusOf(job.jobId, token)).jobId).toBe(job.jobId);
    await untilStatus(job.jobId, (s) => s >= 40, 'running (40)');
    const stopped = one(await V8.computeStop(job.jobId, v2, token));
    expect(stopped.jobId).toBe(job.jobId);
    const ended = await untilStatus(job.jobId, (s) => s === 70, 'finished after the stop (70)');
    expect(ended.terminationDetails?.reason).toBe('stopped');

    expect(await V8.invalidateAuthToken(consumer, token, v2)).toEqual({ success: true });
    await expect(statusOf(job.jobId, token)).rejects.toThrow();
    await expect(V8.computeStop(job.jobId, v2, token)).rejects.toThrow(/invalidated/);
  });
});

describe('refusals', () => {
  /** A signature ocean.js 8 would send, made by `signer` for `consumerAddress` (an agent signature object). */
  async function signed(signer: Wallet, command: string, nonceOf = consumer.address) {
    const nonce = String((await V8.getNonce(v2, nonceOf)) + 1);
    const { signRequest } = await import('@oceanprotocol/lib-v8');
    return {
      consumerAddress: consumer.address,
      nonce,
      signature: await signRequest(signer, consumer.address + nonce + command),
    };
  }

  // Refused before any order is looked at: these orders need not exist.
  const unordered = () => ({
    datasets: [{ ...ref(datasets[0]!), transferTxId: `0x${'1'.repeat(64)}` }],
    algorithm: { ...ref(algorithm), transferTxId: `0x${'2'.repeat(64)}` },
  });

  it('a wrong signer', async () => {
    const forged = await signed(viewer, 'freeStartCompute');
    const { datasets: sets, algorithm: algo } = unordered();
    await expect(V8.freeComputeStart(v2, forged, stack.environmentId, sets, algo)).rejects.toThrow(
      /signature does not match/,
    );
  });

  it('a replayed nonce', async () => {
    const first = await signed(consumer, 'stopCompute');
    // Spent by a stop of a job that is not the consumer's (403 after the nonce check passes would keep it unspent):
    // use the consumer's own finished job, which a stop answers as it is.
    const [job] = (await V8.computeStatus(v2, consumer)) as unknown as V8Job[];
    await V8.computeStop(job!.jobId, v2, first);
    await expect(V8.computeStop(job!.jobId, v2, first)).rejects.toThrow(/not greater than the last accepted nonce/);
  });

  it('a signature made for another command', async () => {
    const forStop = await signed(consumer, 'stopCompute');
    const { datasets: sets, algorithm: algo } = unordered();
    await expect(V8.freeComputeStart(v2, forStop, stack.environmentId, sets, algo)).rejects.toThrow(
      /signature does not match/,
    );
  });

  it("resources beyond the free tier's maximum, naming the field", async () => {
    const { datasets: sets, algorithm: algo } = unordered();
    await expect(
      V8.freeComputeStart(v2, consumer, stack.environmentId, sets, algo, [{ id: 'cpu', amount: 2 }]),
    ).rejects.toThrow(/resources\.0\.amount/);
  });

  it("an address not on the free tier's access list", async () => {
    const res = await fetch(`${v2}/api/services/freeCompute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        ...(await signedBy(stranger, 'freeStartCompute')),
        environment: stack.environmentId,
        ...unordered(),
      }),
    });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: string }).error).toMatch(/access list/);
  });

  it('a paid start in a token the environment does not price, naming the field', async () => {
    await expect(
      V8.computeStart(
        v2,
        consumer,
        stack.environmentId,
        unordered().datasets,
        unordered().algorithm,
        60,
        UNPRICED,
        RESOURCES,
        env.chainId,
      ),
    ).rejects.toThrow(/payment\.token/);
  });

  it('an Authorization header that holds no token, moving no nonce', async () => {
    const before = await V8.getNonce(v2, consumer.address);
    const res = await fetch(`${v2}/api/services/compute?consumerAddress=${consumer.address}&jobId=${'0'.repeat(32)}`, {
      method: 'PUT',
      headers: { Authorization: 'not-a-token' },
    });
    expect(res.status).toBe(401);
    expect(await V8.getNonce(v2, consumer.address)).toBe(before);
  });

  async function signedBy(signer: Wallet, command: string) {
    const nonce = String((await V8.getNonce(v2, signer.address)) + 1);
    const { signRequest } = await import('@oceanprotocol/lib-v8');
    return {
      consumerAddress: signer.address,
      nonce,
      signature: await signRequest(signer, signer.address + nonce + command),
    };
  }
});
