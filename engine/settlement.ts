import { readFileSync } from 'node:fs';
import { PatchStrategy, setHeaderOptions, type CoreV1Api, type V1ConfigMap } from '@kubernetes/client-node';
import { ConfigurationError, type Env } from '../lib/env.ts';
import type { Logger } from '../lib/http/log.ts';
import type { LeaseApi } from '../lib/kube/lease.ts';
import { kubeStatus } from '../lib/kube/errors.ts';
import { readJobConfigMap } from '../lib/job/configmap.ts';
import { isFinal } from '../lib/job/status.ts';
import { escrowClient, type EscrowClient, type SettlementChain } from '../lib/payment/escrow.ts';
import { readPayment, readSettlement, settlementPatch, type Settlement } from '../lib/payment/record.ts';
import { planSettlement } from '../lib/payment/settlement-plan.ts';

/**
 * Settles a paid job's escrow lock once the job is final (lib/payment/settlement-plan.ts decides; this carries one
 * step out per pass and says when to look again). Every record is a merge patch of `settlement.json` guarded by the
 * resourceVersion it was decided from: a 409 means another write came first, and the caller re-reads.
 */

export interface SettlementDeps {
  /** The escrow on one chain, as the payee (lib/payment/escrow.ts settlementChain). */
  chain: SettlementChain;
  api: Pick<CoreV1Api, 'patchNamespacedConfigMap'>;
  namespace: string;
  log: Logger;
  now?: () => Date;
}

export interface SettleResult {
  /** The ConfigMap as this pass wrote it. */
  wrote?: V1ConfigMap;
  /** The guarded write lost to a newer change: look again from the newer copy. */
  conflict?: boolean;
  requeueAfterMs?: number;
}

/** After this many prepared transactions for one lock, a new one is prepared at most once a SLOW_RETRY_MS. */
const MAX_QUICK_ATTEMPTS = 5;
const SLOW_RETRY_MS = 60_000;
/** How soon to look at a sent or pending transaction again. */
const RECHECK_MS = 1_000;
/** Bound on one JSON-RPC call of the settler. */
const ESCROW_RPC_TIMEOUT_MS = 10_000;

export class Settler {
  constructor(private readonly deps: SettlementDeps) {}

  async settle(cm: V1ConfigMap): Promise<SettleResult> {
    const payment = readPayment(cm);
    if (!payment) return {};
    const settlement = readSettlement(cm);
    if (settlement?.outcome) return {};
    const job = readJobConfigMap(cm);
    const final = isFinal(job.status.code);
    if (!final) return {};
    const { chain: escrow, log } = this.deps;
    if (
      payment.chainId !== escrow.chainId ||
      payment.escrow !== escrow.escrowAddress ||
      payment.payee !== escrow.payee
    ) {
      log.error('paid job locked on an escrow this engine does not hold the key for; not settling it', {
        jobId: job.workflow.jobId,
        chainId: payment.chainId,
        escrow: payment.escrow,
        payee: payment.payee,
      });
      return {};
    }
    const now = this.deps.now?.() ?? new Date();
    const intent = settlement?.intent;
    const chain = await escrow.observe(payment, intent?.tx);
    const step = planSettlement({
      job: { final, algorithm: job.status.stages.algorithm, dateFinished: job.status.dateFinished },
      payment,
      settlement,
      chain,
      now,
    });
    const jobId = job.workflow.jobId;
    switch (step.kind) {
      case 'none':
        return {};
      case 'wait':
        return { requeueAfterMs: RECHECK_MS };
      case 'send':
        await escrow.resend(intent!.tx.raw);
        log.info('settlement transaction sent again', { jobId, tx: intent!.tx.hash, action: intent!.action });
        return { requeueAfterMs: RECHECK_MS };
      case 'recordOutcome': {
        const next: Settlement = { version: 1, ...(intent && { intent }), outcome: step.outcome };
        const result = await this.write(cm, next);
        if (result.wrote) log.info('escrow lock settled', { jobId, ...step.outcome });
        return result;
      }
      case 'prepare': {
        const attempt = (intent?.attempt ?? 0) + 1;
        const sinceLast = intent ? now.getTime() - Date.parse(intent.preparedAt) : Infinity;
        if (attempt > MAX_QUICK_ATTEMPTS && sinceLast < SLOW_RETRY_MS) {
          log.warn('settlement transactions keep failing; trying again later', { jobId, tx: intent!.tx.hash, attempt });
          return { requeueAfterMs: SLOW_RETRY_MS - sinceLast };
        }
        const proof = JSON.stringify({ jobId, billedSeconds: step.billedSeconds ?? 0, amount: step.amount.toString() });
        let result: SettleResult = {};
        let next: Settlement | undefined;
        // The intent is recorded before the transaction leaves: a restart re-sends these very bytes.
        const tx = await escrow.send(payment, step.action, step.amount, proof, async (signed) => {
          next = {
            version: 1,
            intent: {
              action: step.action,
              amount: step.amount.toString(),
              ...(step.billedSeconds !== undefined && { billedSeconds: step.billedSeconds }),
              tx: signed,
              preparedAt: now.toISOString(),
              attempt,
            },
          };
          result = await this.write(cm, next);
          return result.wrote !== undefined;
        });
        if (!tx) return result;
        log.info('settlement transaction sent', {
          jobId,
          tx: tx.hash,
          action: step.action,
          amount: next!.intent!.amount,
        });
        return { ...result, requeueAfterMs: RECHECK_MS };
      }
    }
  }

  private async write(cm: V1ConfigMap, settlement: Settlement): Promise<SettleResult> {
    try {
      const wrote = await this.deps.api.patchNamespacedConfigMap(
        {
          name: cm.metadata!.name!,
          namespace: this.deps.namespace,
          body: settlementPatch(settlement, cm.metadata?.resourceVersion),
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      return { wrote };
    } catch (err) {
      if (kubeStatus(err) === 409) return { conflict: true };
      throw err;
    }
  }
}

/**
 * The provider's escrow client the engine settles with, from ESCROW_ADDRESS, RPC_URL, CHAIN_ID and the provider's key
 * (PROVIDER_KEY or the file PROVIDER_KEY_FILE names): the payee of the locks `start` made. Undefined when
 * ESCROW_ADDRESS is unset (no paid compute). Every JSON-RPC call is bounded by `requestTimeoutMs` (at most 10 s);
 * its transactions share the provider transaction lease with start's.
 */
export function escrowClientFromEnv(
  env: Env,
  requestTimeoutMs: number,
  providerTxLease: { leases: LeaseApi; namespace: string },
  log: Logger,
): EscrowClient | undefined {
  const escrowAddress = env.matching('ESCROW_ADDRESS', /^0x[0-9a-fA-F]{40}$/, 'must be a 0x address');
  if (!escrowAddress) return undefined;
  const rpcUrl = env.url('RPC_URL');
  if (!rpcUrl) throw new ConfigurationError('RPC_URL', 'is required when ESCROW_ADDRESS is set');
  const chainId = env.optionalInt('CHAIN_ID');
  if (chainId === undefined) throw new ConfigurationError('CHAIN_ID', 'is required when ESCROW_ADDRESS is set');
  const file = env.optional('PROVIDER_KEY_FILE');
  const key = env.optional('PROVIDER_KEY') ?? (file && readFileSync(file, 'utf8').trim());
  if (!key) throw new ConfigurationError('PROVIDER_KEY', 'or PROVIDER_KEY_FILE is required when ESCROW_ADDRESS is set');
  return escrowClient({
    rpcUrl,
    chainId,
    key,
    escrowAddress,
    // Within the provider transaction lease (lib/payment/provider-tx.ts), which must outlast a send.
    requestTimeoutMs: Math.min(requestTimeoutMs, ESCROW_RPC_TIMEOUT_MS),
    ...providerTxLease,
    log,
  });
}
