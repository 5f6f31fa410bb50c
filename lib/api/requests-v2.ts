import { z } from 'zod';
import { V2_NONCE_CEILING, V2_NONCE_PATTERN } from '../auth/v2-nonce-policy.ts';
import { RESOURCE_IDS } from '../job/environments.ts';
import {
  address,
  chainId,
  did,
  environmentId,
  jobId,
  jsonObject,
  resultIndex,
  serviceId,
  signature,
  txHash,
} from './fields.ts';
import { outputCiphertext } from '../job/output-target.ts';
import { algorithmSchema } from './requests.ts';

/**
 * The v2 API's request schemas: what ocean.js 8.x's ProviderInstance sends (src/services/providers/HttpProvider.ts)
 * and ocean-node reads (src/components/httpRoutes/compute.ts). Unknown keys are dropped; what ocean-node does and
 * this provider does not (persistent-storage buckets, registry credentials, policy servers, queue deadlines, raw file
 * objects) is refused by name rather than ignored, so a caller never believes it got what it asked for.
 */

/** Why `output` is refused by a provider without an output key (OUTPUT_PUBLIC_KEY): nothing could decrypt it. */
export const OUTPUT_NOT_CONFIGURED = 'this provider takes no output storage targets (it has no output key)';

const MAX_DATASETS = 17;
const MAX_VIEWERS = 16;

/** ocean.js 8 sends the nonce as a string (getNonce + 1); a number is taken too. */
export const v2Nonce = z
  .union([z.string(), z.number()], { error: 'must be a decimal integer' })
  .transform((v) => (typeof v === 'number' ? (Number.isSafeInteger(v) ? String(v) : 'x') : v))
  .pipe(z.string().regex(V2_NONCE_PATTERN, 'must be a decimal integer from 1 to 2^53 - 1, without leading zeros'))
  .transform((v) => BigInt(v))
  .refine((n) => n <= V2_NONCE_CEILING, 'must be at most 2^53 - 1');

function unsupported(what: string) {
  return z
    .any()
    .optional()
    .refine((v) => v === undefined || v === null || v === '' || v === 0, `${what} is not supported`);
}

const notSupported = {
  outputBucketId: unsupported('a persistent-storage output bucket'),
  encryptedDockerRegistryAuth: unsupported('a private registry'),
  policyServer: unsupported('a policy server'),
  queueMaxWaitTime: unsupported('a queue deadline (jobs wait for a slot as long as it takes)'),
};

const asset = z.object(
  {
    documentId: did,
    serviceId,
    transferTxId: txHash,
    userdata: jsonObject.optional(),
    fileObject: unsupported('a raw fileObject (publish the dataset and name its documentId)'),
  },
  { error: 'must be an object' },
);

const datasetList = <T extends z.ZodType<{ documentId: string }>>(item: T) =>
  z
    .array(item, { error: 'must be an array' })
    .min(1, 'must name at least one dataset')
    .max(MAX_DATASETS, `must have at most ${MAX_DATASETS} entries`)
    .superRefine((list, ctx) => {
      const seen = new Set<string>();
      list.forEach((d, i) => {
        if (seen.has(d.documentId)) {
          ctx.addIssue({ code: 'custom', path: [i, 'documentId'], message: 'repeats a dataset of the job' });
        }
        seen.add(d.documentId);
      });
    });
/** Start's datasets: each with the order it stands on. */
const datasets = datasetList(asset);
/** initializeCompute's datasets: ordered or not yet. */
const quotedDatasets = datasetList(asset.partial({ transferTxId: true }));

export const resourceRequest = z.object(
  {
    id: z.enum(RESOURCE_IDS, { error: `must be one of ${RESOURCE_IDS.join(', ')}` }),
    amount: z.number({ error: 'must be a number' }).positive('must be positive').finite(),
  },
  { error: 'must be an object' },
);
const resources = z.array(resourceRequest, { error: 'must be an array' }).max(RESOURCE_IDS.length).optional();

const duration = z
  .number({ error: 'must be a number of seconds' })
  .int('must be whole seconds')
  .positive('must be positive');

/** ocean-node's DBComputeJobMetadata: flat string, number or boolean values. */
const metadata = z
  .record(z.string().min(1).max(128), z.union([z.string().max(1024), z.number(), z.boolean()]), {
    error: 'must be an object of strings, numbers and booleans',
  })
  .refine((m) => Object.keys(m).length <= 32, 'must have at most 32 entries')
  .optional();

const additionalViewers = z
  .array(address, { error: 'must be an array of addresses' })
  .max(MAX_VIEWERS, `must have at most ${MAX_VIEWERS} entries`)
  .optional();

/** How a v2 request may be signed; with an auth token (Authorization header) nonce and signature are absent. */
const signed = { consumerAddress: address, nonce: v2Nonce.optional(), signature: signature.optional() };

const startCommon = {
  ...signed,
  ...notSupported,
  environment: environmentId,
  datasets,
  algorithm: algorithmSchema(true),
  resources,
  maxJobDuration: duration.optional(),
  metadata,
  additionalViewers,
  /** The consumer's own storage target for the outputs, ECIES-encrypted to nodePublicKey (ocean-node's `output`). */
  output: outputCiphertext.optional(),
};

export const freeStartRequest = z.object(startCommon);
export type FreeStartRequest = z.output<typeof freeStartRequest>;

const payment = z.object(
  {
    chainId: z.number({ error: 'must be a chain id' }).int().positive(),
    token: address,
    maxJobDuration: duration.optional(),
    resources,
  },
  { error: 'must be an object' },
);

export const paidStartRequest = z.object({ ...startCommon, maxJobDuration: duration, payment });
export type PaidStartRequest = z.output<typeof paidStartRequest>;

export const v2InitializeRequest = z.object({
  ...notSupported,
  /** Checked for its shape only: initializeCompute cannot decrypt it (only the publish pods hold the output key). */
  output: outputCiphertext.optional(),
  datasets: quotedDatasets,
  algorithm: algorithmSchema(false),
  environment: environmentId,
  payment,
  maxJobDuration: duration.optional(),
  consumerAddress: address,
});
export type V2InitializeRequest = z.output<typeof v2InitializeRequest>;

export const v2StopQuery = z.object({
  ...signed,
  jobId,
  agreementId: z
    .string()
    .regex(/^(0x)?[0-9a-fA-F]{0,64}$/, 'must be a hex transaction hash')
    .optional(),
});
export const v2StatusQuery = z.object({
  consumerAddress: address,
  jobId: jobId.optional(),
  agreementId: z
    .string()
    .regex(/^(0x)?[0-9a-fA-F]{0,64}$/, 'must be a hex transaction hash')
    .optional(),
});
export const v2ResultQuery = z.object({ ...signed, jobId, index: resultIndex });
export const v2LogsQuery = z.object({ ...signed, jobId });
export const v2EnvironmentsQuery = z.object({ chainId: chainId.optional() });

export const createTokenRequest = z.object({
  address,
  nonce: v2Nonce,
  signature,
  /** Unix milliseconds, as ocean-node takes it. */
  validUntil: z.number({ error: 'must be unix milliseconds' }).int().positive().optional().nullable(),
  chainId: z.union([z.string(), z.number()]).optional().nullable(),
});
export const invalidateTokenRequest = z.object({
  address,
  nonce: v2Nonce,
  signature,
  token: z.string({ error: 'must be a string' }).min(1).max(1024),
});
