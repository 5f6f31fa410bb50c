import type { CoreV1Api } from '@kubernetes/client-node';
import { Contract, JsonRpcProvider, NonceManager, Wallet, ZeroAddress, parseEther, parseUnits } from 'ethers';
import { oceanArtifact } from '../../devcluster/chain.ts';
import type { PlatformEnv } from '../../devcluster/platform-env.ts';
import { waitFor } from '../../devcluster/processes.ts';
import { succeeded } from '../../devcluster/receipts.ts';
import { buildJobConfigMap, readJobConfigMap, type JobConfigMap } from '../../lib/job/configmap.ts';
import { jobNames } from '../../lib/job/names.ts';
import { buildJobSecret } from '../../lib/job/secret.ts';
import { initialStatus } from '../../lib/job/status.ts';
import { tokenDecimals } from '../../lib/payment/escrow.ts';
import { quoteEscrowPayment, type EscrowQuote } from '../../lib/payment/quote.ts';
import {
  readPayment,
  readSettlement,
  withPayment,
  type JobPayment,
  type Settlement,
} from '../../lib/payment/record.ts';
import type { BuiltJob } from './job-fixtures.ts';

/**
 * The consumer's and the observer's side of the dev chain's Escrow, for integration tests of paid jobs: payers with
 * deposits and authorizations of the provider, quotes at fixed prices, the escrow's view of funds and locks, and
 * paid jobs created as `start` creates them.
 */

const ERC20 = [
  'function balanceOf(address) view returns (uint256)',
  'function transfer(address,uint256) returns (bool)',
  'function approve(address,uint256) returns (bool)',
];

export interface ChainLock {
  jobId: bigint;
  payer: string;
  amount: bigint;
  expiry: bigint;
  token: string;
}

export interface PaidJobState {
  job: JobConfigMap;
  payment: JobPayment | undefined;
  settlement: Settlement | undefined;
}

export class EscrowTestChain {
  readonly rpc: JsonRpcProvider;
  private readonly funder: NonceManager;
  decimals = 18;

  constructor(
    private readonly env: PlatformEnv,
    private readonly payee: string,
  ) {
    // No answer cached: balances and locks are read right after the transactions that change them.
    this.rpc = new JsonRpcProvider(env.rpcUrl, undefined, {
      staticNetwork: true,
      pollingInterval: 100,
      cacheTimeout: -1,
    });
    this.funder = new NonceManager(new Wallet(env.keys.deployer, this.rpc));
  }

  async init(): Promise<this> {
    this.decimals = await tokenDecimals(this.rpc, this.ocean);
    return this;
  }

  get ocean(): string {
    return this.env.ocean.Ocean!.toLowerCase();
  }

  private get escrow(): Contract {
    return new Contract(this.env.ocean.Escrow!, oceanArtifact('Escrow').abi, this.rpc);
  }

  /** A fresh payer with gas and `ocean` OCEAN. */
  async newPayer(ocean = '100'): Promise<Wallet> {
    const payer = new Wallet(Wallet.createRandom().privateKey, this.rpc);
    await succeeded(await this.funder.sendTransaction({ to: payer.address, value: parseEther('1') }), 'gas');
    const token = new Contract(this.ocean, ERC20, this.funder);
    await succeeded(await token.getFunction('transfer')(payer.address, parseUnits(ocean, this.decimals)), 'OCEAN');
    return payer;
  }

  /** What a consumer does before paid starts: approve, deposit, authorize the provider for `locks` locks. */
  async depositAndAuthorize(payer: Wallet, deposit: string, locks: number, lockSeconds: number): Promise<void> {
    const amount = parseUnits(deposit, this.decimals);
    const token = new Contract(this.ocean, ERC20, payer);
    await succeeded(await token.getFunction('approve')(this.env.ocean.Escrow!, amount), 'approve');
    const escrow = this.escrow.connect(payer) as Contract;
    await succeeded(await escrow.getFunction('deposit')(this.ocean, amount), 'deposit');
    await succeeded(await escrow.getFunction('authorize')(this.ocean, this.payee, amount, lockSeconds, locks), 'auth');
  }

  /** (1 + 0.5 + 0.1) OCEAN a minute for cpu, ram and disk: 3.2 OCEAN for two minutes. */
  quote(maxJobDurationSeconds = 120): EscrowQuote {
    return quoteEscrowPayment({
      fees: {
        [String(this.env.chainId)]: [
          {
            feeToken: this.ocean,
            prices: [
              { id: 'cpu', price: 1 },
              { id: 'ram', price: 0.5 },
              { id: 'disk', price: 0.1 },
            ],
          },
        ],
      },
      chainId: this.env.chainId,
      token: this.ocean,
      decimals: this.decimals,
      resources: [
        { id: 'cpu', amount: 1 },
        { id: 'ram', amount: 1 },
        { id: 'disk', amount: 1 },
      ],
      maxJobDurationSeconds,
      minJobDurationSeconds: 60,
      escrowAddress: this.env.ocean.Escrow,
      payee: this.payee,
    });
  }

  async funds(payer: string): Promise<{ available: bigint; locked: bigint }> {
    const f = (await this.escrow.getFunction('getUserFunds')(payer, this.ocean)) as {
      available: bigint;
      locked: bigint;
    };
    return { available: f.available, locked: f.locked };
  }

  /** The provider's open locks (the contract keeps them per payee; zero token and payer match any). */
  async locks(): Promise<ChainLock[]> {
    const all = (await this.escrow.getFunction('getLocks')(ZeroAddress, ZeroAddress, this.payee)) as ChainLock[];
    return all.map((l) => ({
      jobId: l.jobId,
      payer: l.payer.toLowerCase(),
      amount: l.amount,
      expiry: l.expiry,
      token: l.token.toLowerCase(),
    }));
  }

  /** The Claimed events of `payee`'s locks of `payer` since `fromBlock`. */
  async claims(payer: string, fromBlock: number): Promise<Array<{ jobId: bigint; amount: bigint; proof: string }>> {
    const escrow = this.escrow;
    const logs = await escrow.queryFilter(escrow.filters.Claimed!(this.payee, null, null, payer), fromBlock);
    return logs.map((l) => {
      const args = escrow.interface.parseLog(l)!.args;
      return { jobId: args.jobId as bigint, amount: args.amount as bigint, proof: String(args.proof) };
    });
  }

  close(): void {
    this.rpc.destroy();
  }
}

/** `start`'s part: the job's ConfigMap with its payment record, then its Secret. */
export async function createPaidJob(core: CoreV1Api, ns: string, job: BuiltJob, payment: JobPayment): Promise<void> {
  const cm = readJobConfigMap(
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: withPayment(buildJobConfigMap(job.workflow, initialStatus(new Date()), ns), payment),
    }),
  );
  await core.createNamespacedSecret({ namespace: ns, body: buildJobSecret(job.workflow, job.secret, cm, ns) });
}

export async function readPaidJob(core: CoreV1Api, ns: string, jobId: string): Promise<PaidJobState> {
  const cm = await core.readNamespacedConfigMap({ name: jobNames(jobId).configMap, namespace: ns });
  return { job: readJobConfigMap(cm), payment: readPayment(cm), settlement: readSettlement(cm) };
}

export async function waitForPaidJob(
  core: CoreV1Api,
  ns: string,
  jobId: string,
  what: string,
  until: (s: PaidJobState) => boolean,
  timeoutMs = 120_000,
): Promise<PaidJobState> {
  let state: PaidJobState | undefined;
  await waitFor(
    () => `job ${jobId}: ${what} (status ${state?.job.status.code}, settlement ${JSON.stringify(state?.settlement)})`,
    async () => until((state = await readPaidJob(core, ns, jobId))),
    timeoutMs,
    200,
  );
  return state!;
}
