import { getAddress, parseUnits, type Log, type TransactionReceipt } from 'ethers';
import { decodeProviderData, recoverProviderFeeSigner, type ProviderData } from '../chain/provider-fee.ts';
import type { ChainContext } from './chain-context.ts';
import type { ServiceRef } from './compute-policy.ts';
import { erc20Template, erc721Factory, erc721Template } from './contracts.ts';
import type { Ddo } from './ddo.ts';
import { AccessDenied, deny } from './errors.ts';
import { assertNftFromFactory } from './resolve-ddo.ts';
import { callView, rpc } from './rpc.ts';

/** An order must spend at least one whole datatoken (18 decimals), as Ocean's provider requires. */
const ONE_DATATOKEN = parseUnits('1', 18);

const TX_ID = /^0x[0-9a-fA-F]{64}$/;

export interface OrderRequest {
  /** The transaction the consumer names (`transferTxId`): a startOrder, or a reuseOrder of one. */
  txId: string;
  ddo: Ddo;
  /** The service being paid for and its position in `ddo.services`. */
  service: ServiceRef;
  /** Who signed the request: must be the order's consumer or payer. */
  consumerAddress: string;
  /** This provider's address: the fee must be payable to it and signed by it. */
  providerAddress: string;
  environmentId: string;
  /** The fee's validUntil must cover now + this many seconds (the job's duration). */
  jobDurationSeconds: number;
  /** initializeCompute looks at orders whose fee ran out, to offer reusing them. */
  allowExpiredFee?: boolean;
  /** Unix seconds; default the wall clock (Ocean's provider uses it too). */
  now?: number;
  /** The request field the txId came from, for the refusal (e.g. `dataset.transferTxId`). */
  field?: string;
}

export interface ProviderFeeProof {
  providerFeeAddress: string;
  providerFeeToken: string;
  providerFeeAmount: bigint;
  providerData: ProviderData;
  /** Unix seconds; 0 = no expiry. */
  validUntil: number;
}

export interface OrderProof {
  /** The transaction that was named (the reuseOrder when the order was reused). */
  txId: string;
  /** The startOrder transaction carrying OrderStarted. */
  orderTxId: string;
  reused: boolean;
  datatoken: string;
  consumer: string;
  payer: string;
  amount: bigint;
  serviceIndex: number;
  /** OrderStarted's timestamp: when the service timeout started running. */
  orderTimestamp: number;
  providerFee: ProviderFeeProof;
}

/**
 * The service's datatoken must belong to the DDO's NFT, and both must come from the known factory — otherwise a
 * look-alike token could emit the events below. `field` names the request part the refusal is about.
 */
export async function assertDatatokenOfAsset(
  chain: ChainContext,
  nftAddress: string,
  datatoken: string,
  field?: string,
): Promise<void> {
  const t = chain.rpcTimeoutMs;
  await assertNftFromFactory(chain, nftAddress, field);
  const listedDt = (
    await callView(chain.provider, chain.factoryAddress, erc721Factory, 'erc20List', [datatoken], t)
  )?.[0];
  if (listedDt !== true) {
    throw deny(
      'DATATOKEN_NOT_FROM_FACTORY',
      `datatoken ${datatoken} was not created by the known ERC721Factory`,
      field,
    );
  }
  const deployed = (await callView(chain.provider, nftAddress, erc721Template, 'isDeployed', [datatoken], t))?.[0];
  const parent = (await callView(chain.provider, datatoken, erc20Template, 'getERC721Address', [], t))?.[0] as
    string | undefined;
  if (deployed !== true || !parent || getAddress(parent) !== getAddress(nftAddress)) {
    throw deny('DATATOKEN_NOT_OF_ASSET', `datatoken ${datatoken} does not belong to NFT ${nftAddress}`, field);
  }
}

interface ParsedLog {
  name: string;
  address: string;
  args: Record<string, unknown>;
}

function parseLogs(logs: readonly Log[]): ParsedLog[] {
  const parsed: ParsedLog[] = [];
  for (const log of logs) {
    const event = erc20Template.parseLog(log);
    if (event) parsed.push({ name: event.name, address: getAddress(log.address), args: event.args.toObject() });
  }
  return parsed;
}

async function receiptOf(chain: ChainContext, txId: string, field: string, what: string): Promise<TransactionReceipt> {
  const receipt = await rpc(`receipt of ${txId}`, () => chain.provider.getTransactionReceipt(txId), chain.rpcTimeoutMs);
  if (!receipt) throw deny('ORDER_TX_NOT_FOUND', `${what} ${txId} is not on chain`, field);
  if (receipt.status !== 1) throw deny('ORDER_TX_REVERTED', `${what} ${txId} reverted`, field);
  return receipt;
}

function checkProviderFee(
  events: ParsedLog[],
  req: OrderRequest,
  datatoken: string,
  now: number,
  field: string,
): ProviderFeeProof {
  const fees = events.filter((e) => e.name === 'ProviderFee' && e.address === datatoken);
  const fee = fees[0];
  if (!fee) throw deny('PROVIDER_FEE_MISSING', `${req.txId} pays no provider fee on ${datatoken}`, field);
  if (fees.length > 1) throw deny('PROVIDER_FEE_MULTIPLE', `${req.txId} pays more than one provider fee`, field);
  const a = fee.args;
  const proof = {
    providerFeeAddress: getAddress(a.providerFeeAddress as string),
    providerFeeToken: getAddress(a.providerFeeToken as string),
    providerFeeAmount: a.providerFeeAmount as bigint,
    providerDataHex: a.providerData as string,
    validUntil: Number(a.validUntil as bigint),
  };
  if (proof.providerFeeAddress !== getAddress(req.providerAddress)) {
    throw deny(
      'PROVIDER_FEE_WRONG_PROVIDER',
      `the provider fee in ${req.txId} is for ${proof.providerFeeAddress}, not this provider`,
      field,
    );
  }
  let signer: string | undefined;
  try {
    signer = recoverProviderFeeSigner({
      providerFeeAddress: proof.providerFeeAddress,
      providerFeeToken: proof.providerFeeToken,
      providerFeeAmount: proof.providerFeeAmount.toString(10),
      providerData: proof.providerDataHex,
      validUntil: proof.validUntil,
      v: Number(a.v as bigint),
      r: a.r as string,
      s: a.s as string,
    });
  } catch {
    signer = undefined;
  }
  if (signer === undefined || getAddress(signer) !== getAddress(req.providerAddress)) {
    throw deny('PROVIDER_FEE_BAD_SIGNATURE', `the provider fee in ${req.txId} was not signed by this provider`, field);
  }
  let data: ProviderData;
  try {
    data = decodeProviderData(proof.providerDataHex);
  } catch (err) {
    throw deny(
      'PROVIDER_FEE_DATA_INVALID',
      `the provider fee's providerData is unusable: ${(err as Error).message}`,
      field,
    );
  }
  if (data.environment !== req.environmentId) {
    throw deny(
      'PROVIDER_FEE_WRONG_ENVIRONMENT',
      `the provider fee was issued for environment ${data.environment}, not ${req.environmentId}`,
      field,
    );
  }
  if (data.dt.toLowerCase() !== datatoken.toLowerCase()) {
    throw deny(
      'PROVIDER_FEE_WRONG_DATATOKEN',
      `the provider fee was issued for datatoken ${data.dt}, not ${datatoken}`,
      field,
    );
  }
  if (data.id !== req.service.service.id) {
    throw deny(
      'PROVIDER_FEE_WRONG_SERVICE',
      `the provider fee was issued for service ${data.id}, not ${req.service.service.id}`,
      field,
    );
  }
  if (!req.allowExpiredFee && proof.validUntil !== 0 && proof.validUntil < now + req.jobDurationSeconds) {
    throw deny(
      'PROVIDER_FEE_EXPIRED',
      `the provider fee is valid until ${proof.validUntil}, which does not cover the job until ${now + req.jobDurationSeconds}`,
      field,
    );
  }
  return {
    providerFeeAddress: proof.providerFeeAddress,
    providerFeeToken: proof.providerFeeToken,
    providerFeeAmount: proof.providerFeeAmount,
    providerData: data,
    validUntil: proof.validUntil,
  };
}

/** The one OrderStarted of the datatoken in a receipt; another token's order is named as such. */
function orderStarted(events: ParsedLog[], datatoken: string, txId: string, field: string): ParsedLog {
  const ours = events.filter((e) => e.name === 'OrderStarted' && e.address === datatoken);
  if (ours.length > 1) throw deny('ORDER_EVENT_MULTIPLE', `${txId} starts more than one order of ${datatoken}`, field);
  const order = ours[0];
  if (order) return order;
  const other = events.find((e) => e.name === 'OrderStarted');
  if (other) throw deny('ORDER_WRONG_DATATOKEN', `${txId} orders datatoken ${other.address}, not ${datatoken}`, field);
  throw deny('ORDER_EVENT_MISSING', `${txId} is not an order of ${datatoken}`, field);
}

/**
 * Verifies on chain that `txId` pays for the service, the way Ocean's provider does (verify_order_tx), plus the
 * factory provenance of the datatoken. Refusals: TX_ID_MALFORMED, ORDER_TX_NOT_FOUND, ORDER_TX_REVERTED,
 * NFT_NOT_FROM_FACTORY, DATATOKEN_NOT_FROM_FACTORY, DATATOKEN_NOT_OF_ASSET, PROVIDER_FEE_*, ORDER_REUSE_INVALID,
 * ORDER_EVENT_MISSING, ORDER_EVENT_MULTIPLE, ORDER_WRONG_DATATOKEN, ORDER_WRONG_SERVICE_INDEX, ORDER_AMOUNT_TOO_LOW,
 * ORDER_EXPIRED, ORDER_WRONG_CONSUMER. RPC trouble is ChainUnavailable.
 */
export async function verifyOrder(chain: ChainContext, req: OrderRequest): Promise<OrderProof> {
  const field = req.field ?? 'transferTxId';
  const now = req.now ?? Math.floor(Date.now() / 1000);
  if (!TX_ID.test(req.txId)) throw deny('TX_ID_MALFORMED', 'must be a 0x-prefixed 32-byte transaction hash', field);
  const txId = req.txId.toLowerCase();
  const datatoken = getAddress(req.service.service.datatokenAddress);
  await assertDatatokenOfAsset(chain, req.ddo.nftAddress, datatoken, field);

  const receipt = await receiptOf(chain, txId, field, 'order transaction');
  const events = parseLogs(receipt.logs);
  if (!events.some((e) => e.address === datatoken)) {
    const other = events.find((e) => e.name === 'OrderStarted' || e.name === 'OrderReused');
    if (other)
      throw deny('ORDER_WRONG_DATATOKEN', `${txId} orders datatoken ${other.address}, not ${datatoken}`, field);
    throw deny('ORDER_EVENT_MISSING', `${txId} is not an order of ${datatoken}`, field);
  }
  const providerFee = checkProviderFee(events, req, datatoken, now, field);

  // A reuseOrder pays a new provider fee for an existing order: the order itself is in the referenced transaction.
  let orderEvents = events;
  let orderTxId = txId;
  const reuses = events.filter((e) => e.name === 'OrderReused' && e.address === datatoken);
  if (reuses.length > 1) throw deny('ORDER_EVENT_MULTIPLE', `${txId} reuses more than one order`, field);
  const reuse = reuses[0];
  if (reuse) {
    orderTxId = (reuse.args.orderTxId as string).toLowerCase();
    try {
      orderEvents = parseLogs((await receiptOf(chain, orderTxId, field, 'reused order')).logs);
      orderStarted(orderEvents, datatoken, orderTxId, field);
    } catch (err) {
      if (!(err instanceof AccessDenied)) throw err;
      throw deny(
        'ORDER_REUSE_INVALID',
        `${txId} reuses ${orderTxId}, which is not a valid order of ${datatoken}: ${err.message}`,
        field,
      );
    }
  }
  const order = orderStarted(orderEvents, datatoken, orderTxId, field).args;

  const serviceIndex = Number(order.serviceIndex as bigint);
  if (serviceIndex !== req.service.index) {
    throw deny(
      'ORDER_WRONG_SERVICE_INDEX',
      `the order is for service index ${serviceIndex}, not ${req.service.index}`,
      field,
    );
  }
  const amount = order.amount as bigint;
  if (amount < ONE_DATATOKEN)
    throw deny('ORDER_AMOUNT_TOO_LOW', `the order spent ${amount} wei of datatoken, less than 1 datatoken`, field);
  // The original order's time counts, also for a reuse: reusing pays the provider again, not the datatoken.
  const orderTimestamp = Number(order.timestamp as bigint);
  const timeout = req.service.service.timeout;
  if (timeout !== 0 && now - orderTimestamp > timeout) {
    throw deny(
      'ORDER_EXPIRED',
      `the order from ${orderTimestamp} expired after the service timeout of ${timeout} s`,
      field,
    );
  }
  const consumer = getAddress(order.consumer as string);
  const payer = getAddress(order.payer as string);
  const signer = getAddress(req.consumerAddress);
  if (signer !== consumer && signer !== payer) {
    throw deny('ORDER_WRONG_CONSUMER', `the order was placed for ${consumer} by ${payer}, not by ${signer}`, field);
  }
  return {
    txId,
    orderTxId,
    reused: reuse !== undefined,
    datatoken,
    consumer,
    payer,
    amount,
    serviceIndex,
    orderTimestamp,
    providerFee,
  };
}
