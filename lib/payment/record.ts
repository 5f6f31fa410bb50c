import type { V1ConfigMap } from '@kubernetes/client-node';
import { z } from 'zod';

/**
 * A paid job's escrow records, kept in the job's ConfigMap beside `workflow.json` and `status.json`:
 * `payment.json` is written once, by `start`, with the lock it made and the prices the job is billed at (later
 * changes to the environment's prices do not change what the consumer agreed to); `settlement.json` is written only by
 * the engine, guarded by resourceVersion: the signed transaction it is about to send (the intent, recorded before
 * sending, so a restarted engine re-sends the same transaction instead of a second one), then how the lock ended.
 */

export const PAYMENT_KEY = 'payment.json';
export const SETTLEMENT_KEY = 'settlement.json';

const address = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x address')
  .transform((a) => a.toLowerCase());
const uint = z.string().regex(/^(0|[1-9][0-9]{0,77})$/, 'must be a decimal integer');
const txHash = z.string().regex(/^0x[0-9a-f]{64}$/, 'must be a 0x-prefixed 32-byte hash');
const isoDate = z.iso.datetime({ offset: true });
const seconds = z.number().int().min(0);

export const jobPaymentSchema = z.strictObject({
  version: z.literal(1),
  chainId: z.number().int().positive(),
  escrow: address,
  token: address,
  payer: address,
  payee: address,
  /** The lock's job id on chain: sha256 of the job id, as a decimal uint256 (ocean-node's create256Hash). */
  lockId: uint,
  /** What was locked, in the token's smallest unit. */
  amount: uint,
  /** The lock's lifetime from its block (the contract's relative expiry). */
  lockSeconds: seconds,
  lockTx: txHash,
  lockBlock: z.number().int().min(0),
  decimals: z.number().int().min(0).max(77),
  prices: z.array(z.strictObject({ id: z.string().min(1).max(64), price: z.union([z.number().min(0), z.string()]) })),
  resources: z.array(z.strictObject({ id: z.string().min(1).max(64), amount: z.number().min(0) })),
  minJobDurationSeconds: seconds,
  maxJobDurationSeconds: seconds,
});
export type JobPayment = z.infer<typeof jobPaymentSchema>;

/**
 * How a lock ended: claimed (the payee got `amount`, the payer the rest), released (claimed 0: all back to the payer
 * at once), cancelled (expired, all back to the payer), gone (no lock and no event of its end: nothing to settle).
 */
const outcomeSchema = z.strictObject({
  kind: z.enum(['claimed', 'released', 'cancelled', 'gone']),
  amount: uint,
  txHash: txHash.optional(),
  at: isoDate,
});
export type SettlementOutcome = z.infer<typeof outcomeSchema>;

export const SETTLEMENT_ACTIONS = ['claim', 'release', 'cancelExpired'] as const;
export type SettlementAction = (typeof SETTLEMENT_ACTIONS)[number];

const intentSchema = z.strictObject({
  /** claim: take `amount` and give the rest back; release: claim 0 (all back at once); cancelExpired: after expiry. */
  action: z.enum(SETTLEMENT_ACTIONS),
  amount: uint,
  /** The seconds billed (claims only). */
  billedSeconds: seconds.optional(),
  /** The signed transaction, recorded before it is sent. */
  tx: z.strictObject({ hash: txHash, raw: z.string().regex(/^0x[0-9a-f]+$/), nonce: z.number().int().min(0) }),
  preparedAt: isoDate,
  /** How many transactions were prepared for this lock (a reverted or replaced one is prepared again). */
  attempt: z.number().int().min(1),
});
export type SettlementIntent = z.infer<typeof intentSchema>;

export const settlementSchema = z.strictObject({
  version: z.literal(1),
  /** The last transaction prepared; absent when the lock was found gone before any was. */
  intent: intentSchema.optional(),
  outcome: outcomeSchema.optional(),
});
export type Settlement = z.infer<typeof settlementSchema>;

export class InvalidPaymentRecord extends Error {}

function parseKey<T>(cm: V1ConfigMap, key: string, schema: z.ZodType<T>): T | undefined {
  const raw = cm.data?.[key];
  if (raw === undefined) return undefined;
  try {
    return schema.parse(JSON.parse(raw));
  } catch (err) {
    throw new InvalidPaymentRecord(`${cm.metadata?.name ?? 'job'}: ${key}: ${(err as Error).message}`);
  }
}

export const readPayment = (cm: V1ConfigMap): JobPayment | undefined => parseKey(cm, PAYMENT_KEY, jobPaymentSchema);
export const readSettlement = (cm: V1ConfigMap): Settlement | undefined =>
  parseKey(cm, SETTLEMENT_KEY, settlementSchema);

/** The ConfigMap data that records the lock `start` made for a job, kept beside its workflow. */
export function paymentData(payment: JobPayment): Record<string, string> {
  return { [PAYMENT_KEY]: JSON.stringify(jobPaymentSchema.parse(payment)) };
}

/** The job ConfigMap `start` creates, with the lock it made: call on buildJobConfigMap's result before creating it. */
export function withPayment(cm: V1ConfigMap, payment: JobPayment): V1ConfigMap {
  return { ...cm, data: { ...cm.data, ...paymentData(payment) } };
}

/** A JSON merge patch that records the settlement, guarded by the resourceVersion it was decided from. */
export function settlementPatch(settlement: Settlement, resourceVersion: string | undefined): object {
  return {
    metadata: resourceVersion ? { resourceVersion } : {},
    data: { [SETTLEMENT_KEY]: JSON.stringify(settlementSchema.parse(settlement)) },
  };
}
