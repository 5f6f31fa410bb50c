import { JsonRpcProvider, NonceManager, Wallet, ZeroAddress } from 'ethers';
import { ProviderInstance as V8 } from '@oceanprotocol/lib-v8';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { startLocalStack, type LocalStack } from '../../devcluster/local-stack.ts';
import { orderAsset, type PublishedAsset } from '../../devcluster/ocean-assets.ts';
import { waitFor } from '../../devcluster/processes.ts';
import { containerSectionChecksum } from '../../lib/access/algo-checksums.ts';
import type { ProviderFee } from '../../lib/chain/provider-fee.ts';
import { deployAccessList } from '../support/access-list.ts';
import { nodeContainer, OceanFlow, ref, ScriptedFileServer, sha256hex } from '../support/ocean-flow.ts';

/**
 * An environment and its free tier open to the holders of an AccessList contract (ocean-node's `access.accessLists`
 * and `free.access.accessLists`), on the local platform: the list is deployed through Ocean's AccessListFactory on
 * the dev chain and one token minted to the consumer. ocean.js 8.6.2, unchanged, sees the list in the environment,
 * starts a free job as the consumer, and is refused 403 with the reason as an address that holds no token, for a
 * free job and for a paid one.
 */

const env = inject('platform');
const rpc = new JsonRpcProvider(env.rpcUrl, undefined, { staticNetwork: true, pollingInterval: 100, cacheTimeout: -1 });
const consumer = new Wallet(env.keys.consumer, rpc);
/** Holds no token of the list, and is not among the free tier's addresses (there are none). */
const unlisted = new Wallet(env.keys.other, rpc);
const RESOURCES = [
  { id: 'cpu', amount: 0.5 },
  { id: 'ram', amount: 0.5 },
  { id: 'disk', amount: 0.5 },
];
const ALGORITHM = "console.log('on the list');\n";

type V8Job = { jobId: string; status: number; owner: string };
const one = (r: unknown): V8Job => (Array.isArray(r) ? r[0] : r) as V8Job;

let stack: LocalStack;
let flow: OceanFlow;
let files: ScriptedFileServer;
let v2: string;
let list: Awaited<ReturnType<typeof deployAccessList>>;
let dataset: PublishedAsset;
let algorithm: PublishedAsset;

beforeAll(async () => {
  list = await deployAccessList(new NonceManager(new Wallet(env.keys.deployer, rpc)), 'compute-testers');
  await list.mint(consumer.address);
  const accessLists = [{ [String(env.chainId)]: [list.address.toLowerCase()] }];
  stack = await startLocalStack(env, {
    environment: {
      // Paid jobs too: the environment's own access, apart from the free tier's.
      access: { addresses: [], accessLists },
      minimums: { cpu: 0.5, memoryMiB: 256, diskMiB: 256 },
      free: {
        cpu: 1,
        memoryMiB: 512,
        diskMiB: 512,
        maxJobDurationSeconds: 120,
        maxConcurrentJobs: 2,
        // As an operator writes it: lower case; kept and served checksummed.
        access: { addresses: [], accessLists },
      },
    },
  });
  v2 = `${stack.providerUrl}/v2`;
  flow = new OceanFlow(env, stack);
  files = await new ScriptedFileServer().start(env);
  algorithm = await flow.publishAlgorithm([files.file('/algorithm.js', ALGORITHM)]);
  const trusted = [
    {
      did: algorithm.did,
      filesChecksum: sha256hex(ALGORITHM),
      containerSectionChecksum: containerSectionChecksum(nodeContainer(env)),
    },
  ];
  dataset = await flow.publishDataset(files.file('/dataset.csv', 'a,1\n'), { publisherTrustedAlgorithms: trusted });
}, 300_000);

afterAll(async () => {
  await files?.stop();
  await stack?.stop();
  rpc.destroy();
});

/** ocean.js 8's initializeCompute on the free tier, then both assets ordered by the consumer with the fees quoted. */
async function initializeAndOrder(): Promise<{ dataset: string; algorithm: string }> {
  const init = (await V8.initializeCompute(
    [ref(dataset)],
    ref(algorithm),
    stack.environmentId,
    ZeroAddress,
    60,
    v2,
    consumer.address,
    RESOURCES,
    env.chainId,
  )) as unknown as { datasets: { providerFee: ProviderFee }[]; algorithm: { providerFee: ProviderFee } };
  const order = (asset: PublishedAsset, fee: ProviderFee) =>
    orderAsset({
      rpcUrl: env.rpcUrl,
      consumerKey: env.keys.consumer,
      datatokenAddress: asset.datatokenAddresses[0]!,
      serviceIndex: 0,
      providerFee: {
        ...fee,
        v: Number(fee.v),
        validUntil: Number(fee.validUntil),
        providerFeeAmount: String(fee.providerFeeAmount),
      },
    });
  return {
    dataset: await order(dataset, init.datasets[0]!.providerFee),
    algorithm: await order(algorithm, init.algorithm.providerFee),
  };
}

/** The HTTP statuses of the provider's answers to `call` (ocean.js 8 throws the body, not the status). */
async function statusesOf(call: () => Promise<unknown>): Promise<{ statuses: number[]; error: unknown }> {
  const real = globalThis.fetch;
  const statuses: number[] = [];
  const spy = vi.spyOn(globalThis, 'fetch').mockImplementation(async (...args) => {
    const res = await real(...args);
    statuses.push(res.status);
    return res;
  });
  try {
    await call();
    return { statuses, error: undefined };
  } catch (error) {
    return { statuses, error };
  } finally {
    spy.mockRestore();
  }
}

describe('an environment and its free tier open to the holders of an AccessList contract', () => {
  it('has its list on the chain: a token minted to the consumer, none held by the other address', async () => {
    expect(await list.balanceOf(consumer.address)).toBe(1n);
    expect(await list.balanceOf(unlisted.address)).toBe(0n);
  });

  it("shows the list in the environment, in ocean-node's shape", async () => {
    const envs = (await V8.getComputeEnvironments(v2)) as unknown as {
      id: string;
      access: unknown;
      free: { access: unknown };
    }[];
    const e = envs.find((x) => x.id === stack.environmentId)!;
    const served = { addresses: [], accessLists: [{ [String(env.chainId)]: [list.address] }] };
    expect(e.free.access).toEqual(served);
    expect(e.access).toEqual(served);
  });

  it('starts the free job of the holder, through ocean.js 8.x unchanged, and runs it', async () => {
    const orders = await initializeAndOrder();
    const started = one(
      await V8.freeComputeStart(
        v2,
        consumer,
        stack.environmentId,
        [{ ...ref(dataset), transferTxId: orders.dataset }],
        { ...ref(algorithm), transferTxId: orders.algorithm },
        RESOURCES,
      ),
    );
    expect(started.owner).toBe(consumer.address);
    let status = started.status;
    await waitFor(
      `job ${started.jobId} to finish`,
      async () => {
        status = one(await V8.computeStatus(v2, consumer, started.jobId)).status;
        return status === 70;
      },
      180_000,
      500,
    );
    expect(status).toBe(70);
  });

  it('refuses an address that holds no token with 403, naming the reason', async () => {
    // Refused before any order is looked at: these orders need not exist.
    const { statuses, error } = await statusesOf(() =>
      V8.freeComputeStart(
        v2,
        unlisted,
        stack.environmentId,
        [{ ...ref(dataset), transferTxId: `0x${'1'.repeat(64)}` }],
        { ...ref(algorithm), transferTxId: `0x${'2'.repeat(64)}` },
        RESOURCES,
      ),
    );
    expect(statuses.at(-1)).toBe(403);
    expect(JSON.parse((error as Error).message)).toEqual({
      error:
        `${unlisted.address} is not on the access list of the free tier of environment ${stack.environmentId}: ` +
        `not among its addresses, and it holds no token of its 1 access list on chain ${env.chainId}`,
    });
  });

  it("refuses that address a paid job with 403 too, by the environment's own access, before the escrow", async () => {
    const { statuses, error } = await statusesOf(() =>
      V8.computeStart(
        v2,
        unlisted,
        stack.environmentId,
        [{ ...ref(dataset), transferTxId: `0x${'1'.repeat(64)}` }],
        { ...ref(algorithm), transferTxId: `0x${'2'.repeat(64)}` },
        60,
        env.ocean.Ocean!,
        RESOURCES,
        env.chainId,
      ),
    );
    expect(statuses.at(-1)).toBe(403);
    expect(JSON.parse((error as Error).message)).toEqual({
      error:
        `${unlisted.address} is not on the access list of environment ${stack.environmentId}: ` +
        `not among its addresses, and it holds no token of its 1 access list on chain ${env.chainId}`,
    });
  });
});
