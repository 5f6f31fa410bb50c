import { z } from 'zod';
import {
  address,
  bareTxHash,
  booleanFlag,
  chainId,
  did,
  environmentId,
  jobId,
  jsonObject,
  nonce,
  resultIndex,
  serviceId,
  signature,
  stage,
  txHash,
} from './fields.ts';

/**
 * One zod schema per endpoint, matching what ocean.js 3.x `ProviderInstance` sends (names, nesting, which values
 * are strings). Unknown keys are dropped, not stored.
 */

const MAX_ADDITIONAL_DATASETS = 16;

const computeAsset = z.object(
  {
    documentId: did,
    serviceId,
    transferTxId: txHash,
    userdata: jsonObject.optional(),
  },
  { error: 'must be an object' },
);

const algorithmMeta = z.object(
  {
    language: z.string().max(64).optional(),
    version: z.string().max(64).optional(),
    rawcode: z
      .string()
      .max(32 * 1024, 'must be at most 32 KiB')
      .optional(),
    url: z.url({ error: 'must be a URL' }).optional(),
    container: z.object(
      {
        entrypoint: z.string().min(1, 'must not be empty').max(1024),
        image: z
          .string()
          .regex(/^[a-z0-9]+([._/-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/, 'must be an image name'),
        tag: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, 'must be an image tag'),
        checksum: z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be sha256: followed by 64 hex digits'),
      },
      { error: 'must be an object' },
    ),
  },
  { error: 'must be an object' },
);

/**
 * A published algorithm (DID, service and, once ordered, the order) or a raw one (`meta`), never both. Before the
 * order exists (initializeCompute) `transferTxId` is optional.
 */
export function algorithmSchema(orderRequired: boolean) {
  return z
    .object(
      {
        documentId: did.optional(),
        serviceId: serviceId.optional(),
        transferTxId: txHash.optional(),
        meta: algorithmMeta.optional(),
        algocustomdata: jsonObject.optional(),
        userdata: jsonObject.optional(),
      },
      { error: 'must be an object' },
    )
    .superRefine((a, ctx) => {
      if (a.meta !== undefined) {
        if (a.documentId !== undefined) {
          ctx.addIssue({ code: 'custom', path: ['documentId'], message: 'must be absent when meta is given' });
        }
        return;
      }
      const required = orderRequired
        ? (['documentId', 'serviceId', 'transferTxId'] as const)
        : (['documentId', 'serviceId'] as const);
      for (const key of required) {
        if (a[key] === undefined) {
          ctx.addIssue({ code: 'custom', path: [key], message: 'is required unless meta describes a raw algorithm' });
        }
      }
    });
}

const computeAlgorithm = algorithmSchema(true);
export type ComputeAlgorithm = z.output<typeof computeAlgorithm>;
export type ComputeAsset = z.output<typeof computeAsset>;

/** A job's datasets are told apart by DID (their inputs live under /data/inputs/<did>), so none may repeat. */
function refuseRepeatedDids(
  dids: readonly string[],
  path: (i: number) => (string | number)[],
  ctx: z.RefinementCtx,
): void {
  const seen = new Set<string>();
  dids.forEach((did, i) => {
    if (seen.has(did)) ctx.addIssue({ code: 'custom', path: path(i), message: 'repeats a dataset of the job' });
    seen.add(did);
  });
}

export const startRequest = z
  .object({
    dataset: computeAsset,
    algorithm: computeAlgorithm,
    additionalDatasets: z
      .array(computeAsset, { error: 'must be an array' })
      .max(MAX_ADDITIONAL_DATASETS, `must have at most ${MAX_ADDITIONAL_DATASETS} entries`)
      .optional(),
    environment: environmentId,
    consumerAddress: address,
    nonce,
    signature,
  })
  .superRefine((r, ctx) =>
    refuseRepeatedDids(
      [r.dataset.documentId, ...(r.additionalDatasets ?? []).map((d) => d.documentId)],
      (i) => (i === 0 ? ['dataset', 'documentId'] : ['additionalDatasets', i - 1, 'documentId']),
      ctx,
    ),
  );

/** ocean.js sends `agreementId: ''` when it has none. */
const optionalAgreementId = z
  .string({ error: 'must be a string' })
  .regex(/^(0x)?[0-9a-fA-F]{0,64}$/, 'must be a hex transaction hash')
  .optional()
  .transform((v) => (v === undefined || v === '' ? undefined : bareTxHash(v)));

/**
 * ocean.js 3.x signs `consumerAddress + jobId` for stop and sends a nonce the signature does not cover, so the nonce
 * is not read. The job id is required: a signature over the address alone ("stop every job of mine") could be
 * replayed forever against jobs started later.
 */
export const stopRequest = z.object({
  consumerAddress: address,
  signature,
  jobId,
});

/** ocean.js's computeDelete sends no nonce: it signs the stored nonce + 1, which is what is assumed when absent. */
export const deleteRequest = z.object({
  consumerAddress: address,
  signature,
  jobId,
  documentId: did
    .or(z.literal(''))
    .optional()
    .transform((v) => v || undefined),
  nonce: nonce.optional(),
});

export const statusQuery = z
  .object({
    consumerAddress: address,
    jobId: jobId.optional(),
    documentId: did.optional(),
    agreementId: optionalAgreementId,
    signature: signature.optional(),
    nonce: nonce.optional(),
  })
  .refine((q) => (q.signature === undefined) === (q.nonce === undefined), {
    path: ['nonce'],
    message: 'signature and nonce go together',
  });

export const resultQuery = z.object({
  consumerAddress: address,
  jobId,
  index: resultIndex,
  nonce,
  signature,
});

export const logsQuery = z.object({
  consumerAddress: address,
  jobId,
  stage,
  follow: booleanFlag.optional().transform((v) => v ?? false),
  nonce,
  signature,
});

export const nonceQuery = z.object({ userAddress: address });

export const environmentsQuery = z.object({ chainId: chainId.optional() });

export const initializeComputeRequest = z
  .object({
    datasets: z
      .array(computeAsset.partial({ transferTxId: true }), { error: 'must be an array' })
      .min(1, 'must have at least one dataset')
      .max(MAX_ADDITIONAL_DATASETS + 1, `must have at most ${MAX_ADDITIONAL_DATASETS + 1} entries`),
    algorithm: algorithmSchema(false),
    compute: z.object(
      {
        env: environmentId,
        validUntil: z
          .number({ error: 'must be a number of unix seconds' })
          .int('must be an integer')
          .positive('must be positive'),
      },
      { error: 'must be an object' },
    ),
    consumerAddress: address,
  })
  .superRefine((r, ctx) =>
    refuseRepeatedDids(
      r.datasets.map((d) => d.documentId),
      (i) => ['datasets', i, 'documentId'],
      ctx,
    ),
  );
export type InitializeComputeRequest = z.output<typeof initializeComputeRequest>;

export const encryptQuery = z.object({ chainId: chainId.optional() });
