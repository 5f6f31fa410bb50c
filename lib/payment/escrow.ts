import { createRequire } from 'node:module';
import {
  Contract,
  FetchRequest,
  JsonRpcProvider,
  Network,
  Wallet,
  ZeroAddress,
  isError,
  toUtf8Bytes,
  type InterfaceAbi,
  type Log,
  type Provider,
  type TransactionReceipt,
  type TransactionRequest,
} from 'ethers';
import type { Logger } from '../http/log.ts';
import type { LeaseApi } from '../kube/lease.ts';
import type { OpenLock, OrphanRelease } from './orphan-locks.ts';
import { ProviderTransactions, type PreparedTx } from './provider-tx.ts';
import { escrowLockId, lockRefusal, refusalFromRevert, PaymentRefused, type EscrowAccount } from './lock-policy.ts';
import type { EscrowQuote } from './quote.ts';
import type { JobPayment, SettlementAction } from './record.ts';
import type { ObservedChain } from './settlement-plan.ts';

/**
 * The chain edge of escrow payments: the Escrow contract of @oceanprotocol/contracts, called with ethers from the
 * provider's key. Decisions are made by lock-policy.ts and settlement-plan.ts; this module only reads and sends.
 */

const require = createRequire(import.meta.url);
const ESCROW_ABI = (
  require('@oceanprotocol/contracts/artifacts/contracts/escrow/Escrow.sol/Escrow.json') as { abi: InterfaceAbi }
).abi;
const ERC20_DECIMALS_ABI = ['function decimals() view returns (uint8)'];

export type { PreparedTx };

/** The provider's side of one chain's escrow: its key (connected to the chain) and the contract's address. */
export interface EscrowClient {
  signer: Wallet;
  /** Every transaction of the key goes through this (provider-tx.ts: one cluster-wide mutex, nonce to send). */
  transactions: ProviderTransactions;
  escrowAddress: string;
  chainId: number;
  /** Bound on waiting for a transaction to be mined (default 60 s). */
  receiptTimeoutMs?: number;
}

/** Where the escrow is and whose key acts on it; every JSON-RPC call is bounded by `requestTimeoutMs`. */
export interface EscrowSettings {
  rpcUrl: string;
  chainId: number;
  /** The provider's private key: the payee of every lock. */
  key: string;
  escrowAddress: string;
  requestTimeoutMs: number;
  receiptTimeoutMs?: number;
  /** The Lease API and the system namespace of the provider key's transaction lease (provider-tx.ts). */
  leases: LeaseApi;
  namespace: string;
  log?: Logger;
}

/** The escrow client of `start` and of the engine's settler, from their settings. */
export function escrowClient(settings: EscrowSettings): EscrowClient {
  const request = new FetchRequest(settings.rpcUrl);
  request.timeout = settings.requestTimeoutMs;
  const network = Network.from(settings.chainId);
  const provider = new JsonRpcProvider(request, network, {
    staticNetwork: network,
    pollingInterval: 1_000,
    cacheTimeout: -1,
  });
  const signer = new Wallet(settings.key, provider);
  const transactions = new ProviderTransactions({
    signer,
    chainId: settings.chainId,
    leases: settings.leases,
    namespace: settings.namespace,
    rpcTimeoutMs: settings.requestTimeoutMs,
    ...(settings.log && { log: settings.log }),
  });
  return {
    signer,
    transactions,
    escrowAddress: settings.escrowAddress,
    chainId: settings.chainId,
    ...(settings.receiptTimeoutMs !== undefined && { receiptTimeoutMs: settings.receiptTimeoutMs }),
  };
}

const escrowAt = (client: EscrowClient): Contract => new Contract(client.escrowAddress, ESCROW_ABI, client.signer);

function provider(client: EscrowClient): Provider {
  const p = client.signer.provider;
  if (!p) throw new Error('the escrow signer has no provider');
  return p;
}

export async function tokenDecimals(p: Provider, token: string): Promise<number> {
  return Number(await new Contract(token, ERC20_DECIMALS_ABI, p).getFunction('decimals')());
}

/** The payer's escrow funds and authorization of `payee` in `token`. */
export async function readEscrowAccount(
  client: EscrowClient,
  payer: string,
  payee: string,
  token: string,
): Promise<EscrowAccount> {
  const escrow = escrowAt(client);
  const [funds, auths, tokens] = (await Promise.all([
    escrow.getFunction('getUserFunds')(payer, token),
    escrow.getFunction('getAuthorizations')(token, payer, payee),
    escrow.getFunction('getUserTokens')(payer),
  ])) as [{ available: bigint }, Array<Record<string, bigint>>, string[]];
  // An ethers Result throws on an index past its end.
  const auth = auths.length > 0 ? auths[0] : undefined;
  return {
    available: funds.available,
    authorization: auth && {
      maxLockedAmount: auth.maxLockedAmount!,
      currentLockedAmount: auth.currentLockedAmount!,
      maxLockSeconds: auth.maxLockSeconds!,
      maxLockCounts: auth.maxLockCounts!,
      currentLocks: auth.currentLocks!,
    },
    tokensWithFunds: tokens.map((t) => t.toLowerCase()),
  };
}

async function receiptWithin(p: Provider, hash: string, what: string, timeoutMs: number): Promise<TransactionReceipt> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const receipt = await p.getTransactionReceipt(hash);
    if (receipt) return receipt;
    if (Date.now() > deadline) throw new Error(`${what}: no receipt for ${hash} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function revertText(err: unknown): string {
  if (isError(err, 'CALL_EXCEPTION')) return err.reason ?? err.shortMessage;
  return (err as Error).message;
}

/**
 * Locks a paid job's price in the consumer's escrow (ocean-node's Escrow.createLock): checks the consumer's funds and
 * authorization of this provider first, then sends createLock(sha256(jobId), token, payer, amount, minLockSeconds)
 * and waits for it. Throws PaymentRefused (a 4xx for the consumer) when the escrow does not allow it. Returns the
 * record `start` writes into the job's ConfigMap (record.ts withPayment).
 */
export async function lockJobPayment(
  client: EscrowClient,
  job: { jobId: string; owner: string },
  quote: EscrowQuote,
): Promise<JobPayment> {
  const { payment, basis } = quote;
  const payee = client.signer.address.toLowerCase();
  if (payment.chainId !== client.chainId)
    throw new Error(`quote is for chain ${payment.chainId}, not ${client.chainId}`);
  if (payment.payee.toLowerCase() !== payee) throw new Error(`quote names payee ${payment.payee}, not ${payee}`);
  const request = { token: payment.token, payee, amount: BigInt(payment.amount), lockSeconds: payment.minLockSeconds };
  if (request.amount === 0n) throw new PaymentRefused('insufficientEscrow', 'the job is priced at 0: nothing to lock');
  const refused = lockRefusal(await readEscrowAccount(client, job.owner, payee, payment.token), request);
  if (refused) throw refused;
  const lockId = escrowLockId(job.jobId);
  let hash: string;
  try {
    const tx = await client.transactions.send(
      await escrowAt(client)
        .getFunction('createLock')
        .populateTransaction(lockId, payment.token, job.owner, request.amount, payment.minLockSeconds),
    );
    hash = tx!.hash;
  } catch (err) {
    throw refusalFromRevert(revertText(err), request) ?? err;
  }
  const receipt = await receiptWithin(provider(client), hash, 'createLock', client.receiptTimeoutMs ?? 60_000);
  if (receipt.status !== 1) throw new Error(`createLock ${hash} reverted`);
  return {
    version: 1,
    chainId: payment.chainId,
    escrow: client.escrowAddress.toLowerCase(),
    token: payment.token.toLowerCase(),
    payer: job.owner.toLowerCase(),
    payee,
    lockId: lockId.toString(),
    amount: payment.amount,
    lockSeconds: payment.minLockSeconds,
    lockTx: hash,
    lockBlock: receipt.blockNumber,
    decimals: basis.decimals,
    prices: basis.prices,
    resources: basis.resources,
    minJobDurationSeconds: basis.minJobDurationSeconds,
    maxJobDurationSeconds: basis.maxJobDurationSeconds,
  };
}

/**
 * Gives a lock back to the payer at once (claims 0), for `start` when the job could not be created after its lock
 * was; the engine settles every job it knows of itself. Returns the transaction hash.
 */
export async function releaseJobLock(client: EscrowClient, payment: JobPayment): Promise<string> {
  const sent = await client.transactions.send(
    await settlementRequest(client, payment, 'release', 0n, 'job not created'),
  );
  const hash = sent!.hash;
  const receipt = await receiptWithin(provider(client), hash, 'release lock', client.receiptTimeoutMs ?? 60_000);
  if (receipt.status !== 1) throw new Error(`releasing lock ${payment.lockId}: ${hash} reverted`);
  return hash;
}

// ---- settlement: what the engine observes and sends ----

interface ChainLock {
  jobId: bigint;
  payer: string;
  amount: bigint;
  expiry: bigint;
  token: string;
}

/**
 * Observes what settlement-plan.ts decides from: the lock (getLocks filters loosely, so the lock is matched here by
 * id, payer and token), the latest block's time, what became of the recorded transaction, and, once the lock is
 * gone, the event that ended it.
 */
export async function observeSettlementChain(
  client: EscrowClient,
  payment: JobPayment,
  recordedTx: { hash: string; nonce: number } | undefined,
): Promise<ObservedChain> {
  const p = provider(client);
  const escrow = escrowAt(client);
  const [locks, block] = await Promise.all([
    escrow.getFunction('getLocks')(payment.token, payment.payer, payment.payee) as Promise<ChainLock[]>,
    p.getBlock('latest'),
  ]);
  if (!block) throw new Error('the chain returned no latest block');
  const lock = locks.find(
    (l) =>
      l.jobId === BigInt(payment.lockId) &&
      l.payer.toLowerCase() === payment.payer &&
      l.token.toLowerCase() === payment.token,
  );
  const chain: ObservedChain = {
    lock: lock && { amount: lock.amount, expiry: lock.expiry },
    blockTime: BigInt(block.timestamp),
  };
  const receipt = recordedTx && (await p.getTransactionReceipt(recordedTx.hash));
  if (recordedTx) chain.tx = await transactionFate(client, recordedTx, receipt ?? null);
  // Our own mined transaction says how the lock ended without searching a range of blocks.
  if (!lock)
    chain.ended =
      (receipt && lockEndIn(escrow, payment, receipt.logs)) || (await lockEnd(client, payment, block.number));
  return chain;
}

async function transactionFate(
  client: EscrowClient,
  tx: { hash: string; nonce: number },
  receipt: TransactionReceipt | null,
): Promise<NonNullable<ObservedChain['tx']>> {
  const p = provider(client);
  if (receipt) return receipt.status === 1 ? 'succeeded' : 'reverted';
  if (await p.getTransaction(tx.hash)) return 'pending';
  const mined = await p.getTransactionCount(client.signer.address, 'latest');
  return mined > tx.nonce ? 'replaced' : 'unknown';
}

/** The end of the job's lock among `logs` (Claimed first: a claim of an expired lock emits Canceled instead). */
function lockEndIn(escrow: Contract, payment: JobPayment, logs: readonly Log[]): ObservedChain['ended'] {
  const lockId = BigInt(payment.lockId);
  const ours = logs
    .filter((log) => log.address.toLowerCase() === payment.escrow)
    .map((log) => ({ log, parsed: escrow.interface.parseLog(log) }))
    .filter(
      (e) =>
        e.parsed &&
        (e.parsed.name === 'Claimed' || e.parsed.name === 'Canceled') &&
        e.parsed.args.jobId === lockId &&
        String(e.parsed.args.payer).toLowerCase() === payment.payer &&
        String(e.parsed.args.token).toLowerCase() === payment.token,
    );
  const claimed = ours.find((e) => e.parsed!.name === 'Claimed');
  if (claimed)
    return { kind: 'claimed', amount: claimed.parsed!.args.amount as bigint, txHash: claimed.log.transactionHash };
  const canceled = ours[0];
  return canceled && { kind: 'cancelled', amount: 0n, txHash: canceled.log.transactionHash };
}

/** The Claimed or Canceled event of the job's lock, searched from the lock's block. */
async function lockEnd(client: EscrowClient, payment: JobPayment, toBlock: number): Promise<ObservedChain['ended']> {
  const escrow = escrowAt(client);
  const [claimed, canceled] = await Promise.all([
    escrow.queryFilter(escrow.filters.Claimed!(payment.payee, null, null, payment.payer), payment.lockBlock, toBlock),
    escrow.queryFilter(escrow.filters.Canceled!(payment.payee, null, null, payment.payer), payment.lockBlock, toBlock),
  ]);
  return lockEndIn(escrow, payment, [...claimed, ...canceled]);
}

/**
 * The transaction that settles the lock: claimLockAndWithdraw for a claim or a release (amount 0),
 * cancelExpiredLock for an expired lock. The proof is a short JSON of what was billed.
 */
export async function settlementRequest(
  client: EscrowClient,
  payment: Pick<JobPayment, 'lockId' | 'token' | 'payer' | 'payee'>,
  action: SettlementAction,
  amount: bigint,
  proof: string,
): Promise<TransactionRequest> {
  const escrow = escrowAt(client);
  const lockId = BigInt(payment.lockId);
  return action === 'cancelExpired'
    ? escrow.getFunction('cancelExpiredLock').populateTransaction(lockId, payment.token, payment.payer, payment.payee)
    : escrow
        .getFunction('claimLockAndWithdraw')
        .populateTransaction(lockId, payment.token, payment.payer, amount, toUtf8Bytes(proof));
}

/** What the engine's settler needs of the chain, as one object (a fake one in unit tests). */
export interface SettlementChain {
  chainId: number;
  escrowAddress: string;
  payee: string;
  observe(payment: JobPayment, recordedTx: { hash: string; nonce: number } | undefined): Promise<ObservedChain>;
  /**
   * Signs the settling transaction under the provider key's lease, lets `record` keep it (false: not sent, and
   * undefined returned), then sends it.
   */
  send(
    payment: JobPayment,
    action: SettlementAction,
    amount: bigint,
    proof: string,
    record: (tx: PreparedTx) => Promise<boolean>,
  ): Promise<PreparedTx | undefined>;
  /** Sends a recorded transaction again (same bytes). */
  resend(raw: string): Promise<void>;
}

export function settlementChain(client: EscrowClient): SettlementChain {
  return {
    chainId: client.chainId,
    escrowAddress: client.escrowAddress.toLowerCase(),
    payee: client.signer.address.toLowerCase(),
    observe: (payment, recordedTx) => observeSettlementChain(client, payment, recordedTx),
    send: async (payment, action, amount, proof, record) =>
      client.transactions.send(await settlementRequest(client, payment, action, amount, proof), record),
    resend: (raw) => client.transactions.resend(raw),
  };
}

// ---- orphan locks: what the engine's sweep lists and sends ----

/** What the engine's orphan lock sweep needs of the chain (a fake one in unit tests). */
export interface OrphanLockChain {
  /** The provider's open locks and the latest block's timestamp. */
  openLocks(): Promise<{ locks: OpenLock[]; blockTime: bigint }>;
  /** Sends the transaction that gives the lock back; returns its hash (not waiting for it to be mined). */
  release(release: OrphanRelease): Promise<string>;
  /** Whether the node holds the transaction unmined. */
  pending(hash: string): Promise<boolean>;
}

export function orphanLockChain(client: EscrowClient): OrphanLockChain {
  const payee = client.signer.address.toLowerCase();
  return {
    async openLocks() {
      const escrow = escrowAt(client);
      // The contract keeps locks per payee; a zero token and payer match any of them.
      const [locks, block] = await Promise.all([
        escrow.getFunction('getLocks')(ZeroAddress, ZeroAddress, payee) as Promise<ChainLock[]>,
        provider(client).getBlock('latest'),
      ]);
      if (!block) throw new Error('the chain returned no latest block');
      return {
        locks: locks.map((l) => ({
          lockId: l.jobId,
          payer: l.payer.toLowerCase(),
          token: l.token.toLowerCase(),
          amount: l.amount,
          expiry: l.expiry,
        })),
        blockTime: BigInt(block.timestamp),
      };
    },
    async release({ lock, action }) {
      const target = { lockId: lock.lockId.toString(), token: lock.token, payer: lock.payer, payee };
      const request = await settlementRequest(client, target, action, 0n, JSON.stringify({ orphan: true }));
      return (await client.transactions.send(request))!.hash;
    },
    async pending(hash) {
      const p = provider(client);
      return (await p.getTransaction(hash)) !== null && (await p.getTransactionReceipt(hash)) === null;
    },
  };
}
