import { z } from 'zod';
import { ENVIRONMENT_ID_PATTERN, JOB_ID_PATTERN, OWNER_PATTERN } from './names.ts';

/**
 * The immutable description of one compute job, stored in its ConfigMap. It holds nothing secret: file URLs,
 * download headers and raw algorithm code live in the job's Secret (`JobSecretData` below), which only the
 * configure pod reads.
 */

export const WORKFLOW_VERSION = 1;

export const DID_PATTERN = /^did:op:[0-9a-f]{64}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const TX_ID = /^0x[0-9a-f]{64}$/;
/** A container image name without tag or digest: an optional registry (host[:port]/), then path components. */
const IMAGE_NAME =
  /^(?:[a-z0-9.-]+(?::[0-9]+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const IMAGE_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const IMAGE_DIGEST = /^sha256:[0-9a-f]{64}$/;

const did = z.string().regex(DID_PATTERN, 'must be did:op: followed by 64 lower-case hex digits');
const txId = z.string().regex(TX_ID, 'must be a 0x-prefixed 32-byte transaction hash');
const serviceId = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_.:-]+$/);
const isoDate = z.iso.datetime({ offset: true });

/** What the workflow may say about one file of a dataset: its position and what it is declared to contain. */
const fileMetaSchema = z.strictObject({
  index: z.number().int().min(0).max(999),
  contentType: z.string().max(255).optional(),
  /** Declared size in bytes; the configure pod refuses a file of another size. */
  contentLength: z.number().int().min(0).optional(),
  /** Declared sha256 (hex) of the file's bytes; the configure pod refuses a file that does not match. */
  checksum: z.string().regex(SHA256_HEX, 'must be a lower-case sha256 hex digest').optional(),
});
export type FileMeta = z.infer<typeof fileMetaSchema>;

const filesSchema = z
  .array(fileMetaSchema)
  .min(1)
  .max(100)
  .refine((files) => files.every((f, i) => f.index === i), 'file indexes must be 0, 1, 2, … in order');

const datasetSchema = z.strictObject({
  did,
  serviceId,
  transferTxId: txId,
  files: filesSchema,
});
export type Dataset = z.infer<typeof datasetSchema>;

export const containerSchema = z.strictObject({
  image: z.string().max(255).regex(IMAGE_NAME, 'must be a container image name without tag'),
  tag: z.string().regex(IMAGE_TAG, 'must be a container image tag'),
  /** The command line, run by /bin/sh; `$ALGO` stands for the algorithm file's path. */
  entrypoint: z.string().min(1).max(4096),
  /** The image digest (`sha256:…`); when present the pod pins the image to it. */
  checksum: z.string().regex(IMAGE_DIGEST, 'must be sha256:<64 hex digits>').optional(),
});
export type Container = z.infer<typeof containerSchema>;

const publishedAlgorithmSchema = z.strictObject({
  kind: z.literal('published'),
  did,
  serviceId,
  transferTxId: txId,
  container: containerSchema,
  /**
   * The algorithm is one file (as in Ocean); it becomes /data/transformations/algorithm. Its checksum is the sha256
   * the provider computed when it checked the algorithm at start: the configure pod refuses any other bytes.
   */
  files: z
    .tuple([fileMetaSchema.required({ checksum: true })])
    .refine((files) => files[0].index === 0, 'the algorithm file has index 0'),
});

/** An algorithm given inline (Ocean's `meta`): its code or URL is in the Secret, only its container is here. */
const rawAlgorithmSchema = z.strictObject({
  kind: z.literal('raw'),
  container: containerSchema,
  /** How the configure pod obtains the code: inline `rawcode` or a `url`, both held by the Secret. */
  source: z.enum(['rawcode', 'url']),
});

const algorithmSchema = z.discriminatedUnion('kind', [publishedAlgorithmSchema, rawAlgorithmSchema]);
export type Algorithm = z.infer<typeof algorithmSchema>;

const limitsSchema = z.strictObject({
  maxDurationSeconds: z
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 3600),
  /** CPU cores (fractions allowed, e.g. 0.5). */
  cpu: z.number().positive().max(256),
  memoryMiB: z
    .number()
    .int()
    .min(16)
    .max(1024 * 1024),
  diskMiB: z
    .number()
    .int()
    .min(1)
    .max(16 * 1024 * 1024),
});

const jsonObject = z.record(z.string(), z.unknown());

export const workflowSchema = z
  .strictObject({
    version: z.literal(WORKFLOW_VERSION),
    jobId: z.string().regex(JOB_ID_PATTERN),
    owner: z.string().regex(OWNER_PATTERN, 'must be a lower-case 0x address'),
    environment: z.string().regex(ENVIRONMENT_ID_PATTERN),
    /** The order that paid for the job (Ocean's agreementId: the primary dataset's transfer transaction). */
    agreementId: z.string().min(1).max(128),
    dateCreated: isoDate,
    /** Every input dataset; the first is the one the job was started for, the rest are Ocean's additionalDatasets. */
    datasets: z.array(datasetSchema).min(1).max(20),
    algorithm: algorithmSchema,
    allowNetworkAccess: z.boolean(),
    limits: limitsSchema,
    /** Written to /data/inputs/algoCustomData.json for the algorithm. */
    algoCustomData: jsonObject.optional(),
    /** v2: addresses besides the owner that may read the job's status, logs and results (additionalViewers). */
    viewers: z.array(z.string().regex(OWNER_PATTERN, 'must be a lower-case 0x address')).max(16).optional(),
    /** v2: the consumer's notes about the job (ocean-node's metadata), served back with its status. */
    metadata: z
      .record(z.string().min(1).max(128), z.union([z.string().max(1024), z.number(), z.boolean()]))
      .refine((m) => Object.keys(m).length <= 32, 'at most 32 entries')
      .optional(),
    /**
     * v2: the consumer named its own storage target for the outputs (`output`); its ciphertext is in the job's output
     * Secret, and publish sends the outputs there instead of to the results store.
     */
    outputTarget: z.literal(true).optional(),
    /** How the job is paid: absent, by its orders' provider fees (v1); v2's free tier; or v2's escrow. */
    billing: z.enum(['free', 'escrow']).optional(),
  })
  .refine((w) => new Set(w.datasets.map((d) => d.did)).size === w.datasets.length, {
    message: 'datasets must not repeat a DID',
    path: ['datasets'],
  });
export type Workflow = z.infer<typeof workflowSchema>;

export function parseWorkflow(input: unknown): Workflow {
  return workflowSchema.parse(input);
}

export function primaryDataset(workflow: Workflow): Dataset {
  return workflow.datasets[0]!;
}

export function additionalDatasets(workflow: Workflow): Dataset[] {
  return workflow.datasets.slice(1);
}

/** The algorithm's DID, or undefined for a raw algorithm. */
export function algorithmDid(workflow: Workflow): string | undefined {
  return workflow.algorithm.kind === 'published' ? workflow.algorithm.did : undefined;
}

// ---- the per-job Secret's payload ----

export const JOB_SECRET_VERSION = 1;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const fileAccessSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/ }),
  method: z.enum(['GET', 'POST']).default('GET'),
  headers: z.record(z.string().regex(HEADER_NAME), z.string().max(8192)).default({}),
});
export type FileAccess = z.infer<typeof fileAccessSchema>;

const jobSecretDataSchema = z.strictObject({
  version: z.literal(JOB_SECRET_VERSION),
  /** Decrypted file locations per dataset DID, in the order of the workflow's `files`. */
  datasets: z.record(did, z.array(fileAccessSchema).min(1).max(100)),
  algorithm: z.discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('published'), file: fileAccessSchema }),
    z.strictObject({
      kind: z.literal('rawcode'),
      rawcode: z
        .string()
        .min(1)
        .max(512 * 1024),
    }),
    z.strictObject({ kind: z.literal('url'), file: fileAccessSchema }),
  ]),
  /** The DDOs of the datasets and the algorithm, written to /data/ddos/<did>. */
  ddos: z.record(did, jsonObject).default({}),
});
export type JobSecretData = z.infer<typeof jobSecretDataSchema>;

export function parseJobSecretData(input: unknown): JobSecretData {
  return jobSecretDataSchema.parse(input);
}

/**
 * Checks that a Secret payload fits its workflow: every dataset has as many file locations as the workflow declares
 * files, and the algorithm's source kind matches. Returns the problems (empty when consistent).
 */
export function secretMismatches(workflow: Workflow, secret: JobSecretData): string[] {
  const problems: string[] = [];
  for (const dataset of workflow.datasets) {
    const files = secret.datasets[dataset.did];
    if (!files) problems.push(`no file locations for dataset ${dataset.did}`);
    else if (files.length !== dataset.files.length) {
      problems.push(
        `dataset ${dataset.did} declares ${dataset.files.length} files but ${files.length} locations are given`,
      );
    }
  }
  for (const extra of Object.keys(secret.datasets)) {
    if (!workflow.datasets.some((d) => d.did === extra)) problems.push(`file locations for unknown dataset ${extra}`);
  }
  const algo = workflow.algorithm;
  const expectedKind = algo.kind === 'published' ? 'published' : algo.source;
  if (secret.algorithm.kind !== expectedKind) {
    problems.push(`algorithm source is ${secret.algorithm.kind} but the workflow says ${expectedKind}`);
  }
  return problems;
}
