import { encodeProviderData, signProviderFee, type ProviderFee } from '../chain/provider-fee.ts';
import type { Environment } from '../job/environments.ts';
import type { ChainContext, ProviderKey } from './chain-context.ts';
import type { ServiceRef } from './compute-policy.ts';
import type { Ddo } from './ddo.ts';
import { AccessDenied, deny } from './errors.ts';
import { feeAmount, feeTermsFor, type FeeTerms } from './fees.ts';
import { verifyOrder } from './order.ts';

/**
 * The chain part of `initializeCompute`: per asset, what the consumer must put on chain before `start` — the
 * datatoken to order and a provider fee signed by this provider — or the order it already has (`validOrder`).
 * The caller has resolved the DDOs and applied the compute policy; nothing here decides whether the job is allowed.
 */

/** ocean.js's ProviderComputeInitialize. */
interface ComputeInitialize {
  datatoken?: string;
  validOrder?: string;
  providerFee?: ProviderFee;
}

interface InitializeItem {
  ddo: Ddo;
  service: ServiceRef;
  /** An order the consumer already holds for this service. */
  transferTxId?: string | undefined;
  /** Request field of the asset, for refusals (e.g. `datasets.0`). */
  field: string;
}

export interface InitializeRequest {
  /** The main dataset first. */
  datasets: readonly InitializeItem[];
  /** The published algorithm, if the algorithm is one. */
  algorithm?: InitializeItem | undefined;
  environment: Pick<Environment, 'id' | 'fees'>;
  /** Unix seconds until which the job may run; the fees are valid until then. */
  validUntil: number;
  consumerAddress: string;
  /** Unix seconds; default the wall clock. */
  now?: number;
}

export interface InitializeResult {
  datasets: ComputeInitialize[];
  algorithm?: ComputeInitialize;
}

const MAX_VALIDITY_SECONDS = 366 * 24 * 3600;

export interface FeeGrant {
  environmentId: string;
  datatoken: string;
  serviceId: string;
  terms: FeeTerms;
  /** Charge the environment's price (the main dataset) or issue the fee at 0 (the other assets, as Ocean does). */
  charge: boolean;
  validUntil: number;
  now: number;
}

/** A provider fee as ERC20Template._checkProviderFee accepts it, naming environment, datatoken and service. */
export function issueProviderFee(key: Pick<ProviderKey, 'address' | 'signingKey'>, grant: FeeGrant): ProviderFee {
  const amount = grant.charge ? feeAmount(grant.terms, grant.validUntil - grant.now) : 0n;
  return signProviderFee(key, {
    providerFeeToken: grant.terms.token,
    providerFeeAmount: amount,
    providerData: encodeProviderData({
      environment: grant.environmentId,
      timestamp: grant.now,
      dt: grant.datatoken,
      id: grant.serviceId,
    }),
    validUntil: grant.validUntil,
  });
}

export function checkValidUntil(validUntil: number, now: number): void {
  if (!Number.isSafeInteger(validUntil) || validUntil <= now) {
    throw deny('VALID_UNTIL_INVALID', 'must be unix seconds in the future', 'compute.validUntil');
  }
  if (validUntil - now > MAX_VALIDITY_SECONDS) {
    throw deny('VALID_UNTIL_INVALID', 'must be at most a year from now', 'compute.validUntil');
  }
}

async function initializeItem(
  chain: ChainContext,
  key: ProviderKey,
  item: InitializeItem,
  req: InitializeRequest,
  terms: FeeTerms,
  charge: boolean,
  now: number,
): Promise<ComputeInitialize> {
  const datatoken = item.service.service.datatokenAddress;
  let reusable: string | undefined;
  if (item.transferTxId !== undefined) {
    try {
      const proof = await verifyOrder(chain, {
        txId: item.transferTxId,
        ddo: item.ddo,
        service: item.service,
        consumerAddress: req.consumerAddress,
        providerAddress: key.address,
        environmentId: req.environment.id,
        jobDurationSeconds: 0,
        allowExpiredFee: true,
        now,
        field: `${item.field}.transferTxId`,
      });
      const feeCovers = proof.providerFee.validUntil === 0 || proof.providerFee.validUntil >= req.validUntil;
      if (feeCovers) return { validOrder: proof.txId };
      reusable = proof.orderTxId;
    } catch (err) {
      // An order that does not prove access is simply not reusable: the consumer orders anew.
      if (!(err instanceof AccessDenied)) throw err;
    }
  }
  const providerFee = issueProviderFee(key, {
    environmentId: req.environment.id,
    datatoken,
    serviceId: item.service.service.id,
    terms,
    charge,
    validUntil: req.validUntil,
    now,
  });
  return { datatoken, providerFee, ...(reusable !== undefined && { validOrder: reusable }) };
}

/**
 * For each dataset (and a published algorithm) the datatoken and a fresh signed provider fee, or `validOrder` when
 * the named order and its fee still cover the request; with an order whose fee ran out, both (ocean.js then calls
 * reuseOrder). Only the main dataset's fee carries the environment's price. Refusals: VALID_UNTIL_INVALID,
 * ENVIRONMENT_PRICE_INVALID; RPC trouble is ChainUnavailable.
 */
export async function initializeCompute(
  chain: ChainContext,
  key: ProviderKey,
  req: InitializeRequest,
): Promise<InitializeResult> {
  const now = req.now ?? Math.floor(Date.now() / 1000);
  checkValidUntil(req.validUntil, now);
  const terms = feeTermsFor(req.environment, chain.chainId);
  const datasets: ComputeInitialize[] = [];
  for (const [i, item] of req.datasets.entries()) {
    datasets.push(await initializeItem(chain, key, item, req, terms, i === 0, now));
  }
  if (!req.algorithm) return { datasets };
  return { datasets, algorithm: await initializeItem(chain, key, req.algorithm, req, terms, false, now) };
}
