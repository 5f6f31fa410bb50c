import { z } from 'zod';
import { STAGES } from './names.ts';

/**
 * A job's status as the engine records it in the job's ConfigMap. Codes follow Ocean's so existing clients read them;
 * 71 (stopped), 72 (timed out) and 73 (the infrastructure failed: a node lost, a pod evicted or deleted, an image
 * that could not be pulled, after the stage's retries) are this platform's own final codes, and every final status
 * carries a `termination` whose `reason` says how the job ended.
 */

export const StatusCode = {
  WarmingUp: 1,
  JobStarted: 10,
  ConfiguringVolumes: 20,
  ProvisioningSuccess: 30,
  DataProvisioningFailed: 31,
  AlgorithmProvisioningFailed: 32,
  RunningAlgorithm: 40,
  AlgorithmFailed: 41,
  DiskQuotaExceeded: 42,
  PublishingResults: 60,
  ResultsUploadFailed: 62,
  JobFinished: 70,
  JobStopped: 71,
  JobTimedOut: 72,
  InfrastructureFailed: 73,
} as const;
export type StatusCode = (typeof StatusCode)[keyof typeof StatusCode];

export const STATUS_TEXT: Record<StatusCode, string> = {
  1: 'Warming up',
  10: 'Job started',
  20: 'Configuring volumes',
  30: 'Provisioning success',
  31: 'Data provisioning failed',
  32: 'Algorithm provisioning failed',
  40: 'Running algorithm',
  41: 'Algorithm failed',
  42: 'Disk quota exceeded',
  60: 'Publishing results',
  62: 'Results upload failed',
  70: 'Job finished',
  71: 'Job stopped',
  72: 'Job timed out',
  73: 'Infrastructure failed',
};

const ALL_CODES = Object.values(StatusCode);
export const FINAL_CODES: ReadonlySet<StatusCode> = new Set([31, 32, 41, 42, 62, 70, 71, 72, 73]);

export function isFinal(code: StatusCode): boolean {
  return FINAL_CODES.has(code);
}

export function statusText(code: StatusCode): string {
  return STATUS_TEXT[code];
}

const TERMINATION_REASONS = [
  'finished',
  'dataProvisioningFailed',
  'algorithmProvisioningFailed',
  'algorithmFailed',
  'diskQuotaExceeded',
  'resultsUploadFailed',
  'stopped',
  'timedOut',
  'infrastructureFailed',
] as const;
export type TerminationReason = (typeof TERMINATION_REASONS)[number];

/** The final code each way of ending maps to. */
export const TERMINATION_CODE: Record<TerminationReason, StatusCode> = {
  finished: 70,
  dataProvisioningFailed: 31,
  algorithmProvisioningFailed: 32,
  algorithmFailed: 41,
  diskQuotaExceeded: 42,
  resultsUploadFailed: 62,
  stopped: 71,
  timedOut: 72,
  infrastructureFailed: 73,
};

const isoDate = z.iso.datetime({ offset: true });
const statusCodeSchema = z.literal(ALL_CODES);
const MAX_MESSAGE_LENGTH = 1024;
const message = z.string().max(MAX_MESSAGE_LENGTH);

const RESULT_TYPES = ['output', 'algorithmLog', 'configurationLog', 'publishLog'] as const;
export type ResultType = (typeof RESULT_TYPES)[number];

const resultSchema = z.strictObject({
  index: z.number().int().min(0),
  /** Path relative to /data/outputs (outputs) or /data/logs (logs), `/`-separated. */
  filename: z.string().min(1).max(1024),
  filesize: z.number().int().min(0),
  type: z.enum(RESULT_TYPES),
  /** Object key in the results bucket. */
  key: z.string().min(1).max(1024),
});
export type Result = z.infer<typeof resultSchema>;
export const resultsSchema = z.array(resultSchema);

const terminationSchema = z.strictObject({
  reason: z.enum(TERMINATION_REASONS),
  /** The stage that decided the outcome; absent when the job ended before any stage ran. */
  stage: z.enum(STAGES).optional(),
  exitCode: z.number().int().optional(),
  message: message.optional(),
});
export type Termination = z.infer<typeof terminationSchema>;

/** One infrastructure failure of a stage's pod (docs/reliability.md): what was seen, and of which pod. */
const stageRetrySchema = z.strictObject({
  at: isoDate,
  reason: z.string().max(128),
  message: message.optional(),
  /** The failed pod's uid; absent when the pod had vanished before the engine saw it fail. */
  podUid: z.string().max(64).optional(),
});
export type StageRetry = z.infer<typeof stageRetrySchema>;

const stageRecordSchema = z.strictObject({
  startedAt: isoDate,
  finishedAt: isoDate.optional(),
  exitCode: z.number().int().optional(),
  reason: z.string().max(128).optional(),
  message: message.optional(),
  /** How many pods this stage has been given (absent: one). Each one after the first follows an entry of `retries`. */
  attempts: z.number().int().min(1).optional(),
  /** The stage's pods that the infrastructure failed, in order (absent: none). */
  retries: z.array(stageRetrySchema).max(16).optional(),
});
export type StageRecord = z.infer<typeof stageRecordSchema>;

const historyEntrySchema = z.strictObject({
  code: statusCodeSchema,
  text: z.string(),
  at: isoDate,
});

export const jobStatusSchema = z.strictObject({
  code: statusCodeSchema,
  text: z.string(),
  updatedAt: isoDate,
  /** When the job left the queue (status 10). */
  dateStarted: isoDate.optional(),
  dateFinished: isoDate.optional(),
  /** Mirrors the stop mark once the engine has seen it. */
  stopRequested: z.boolean(),
  /** A bounded summary of what the job published (see results-manifest.ts); the store's manifest lists all. */
  results: resultsSchema,
  /** How many results the job published in all, when the summary may leave some out. */
  resultsTotal: z.number().int().min(0).optional(),
  history: z.array(historyEntrySchema),
  stages: z.strictObject({
    configure: stageRecordSchema.optional(),
    algorithm: stageRecordSchema.optional(),
    publish: stageRecordSchema.optional(),
  }),
  /** How the job will end once its results are published (set when configure or the algorithm did not succeed). */
  outcome: terminationSchema.optional(),
  /** How the job ended; present exactly when the code is final. */
  termination: terminationSchema.optional(),
  /** When the job's pods, volume, Secret and stored results are removed (storage expiry). */
  expiresAt: isoDate.optional(),
  cleanedUpAt: isoDate.optional(),
});
export type JobStatus = z.infer<typeof jobStatusSchema>;

/** The status a job is created with: queued, warming up. */
export function initialStatus(now: Date): JobStatus {
  const at = now.toISOString();
  return {
    code: StatusCode.WarmingUp,
    text: STATUS_TEXT[1],
    updatedAt: at,
    stopRequested: false,
    results: [],
    history: [{ code: StatusCode.WarmingUp, text: STATUS_TEXT[1], at }],
    stages: {},
  };
}

function parseStatus(input: unknown): JobStatus {
  return jobStatusSchema.parse(input);
}

export function parseStatusJson(json: string): JobStatus {
  return parseStatus(JSON.parse(json));
}

export function serializeStatus(status: JobStatus): string {
  return JSON.stringify(jobStatusSchema.parse(status));
}

export function truncateMessage(text: string): string {
  return text.length <= MAX_MESSAGE_LENGTH ? text : `${text.slice(0, MAX_MESSAGE_LENGTH - 1)}…`;
}
