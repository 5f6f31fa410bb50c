import type { Env } from '../env.ts';

/**
 * The results store's settings, and the one set of variable names every part reads them from (engine, functions,
 * publish pods, local runs). In a cluster they come from the results-store Secret by reference: its keys are the
 * field names below, never a ConfigMap's or the algorithm's environment. The names follow the AWS SDK's
 * (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) with an S3_ prefix, so that they never pick up an operator's AWS account.
 */
export interface ResultsStoreConfig {
  endpoint: string;
  region: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/** Each variable and the setting (= results-store Secret key) it carries. */
export const RESULTS_STORE_ENV = {
  S3_ENDPOINT: 'endpoint',
  S3_REGION: 'region',
  S3_BUCKET: 'bucket',
  S3_ACCESS_KEY_ID: 'accessKeyId',
  S3_SECRET_ACCESS_KEY: 'secretAccessKey',
} as const satisfies Record<string, keyof ResultsStoreConfig>;

const DEFAULT_S3_REGION = 'us-east-1';

export function resultsStoreConfigFromEnv(env: Env): ResultsStoreConfig {
  return {
    endpoint: env.url('S3_ENDPOINT') ?? env.string('S3_ENDPOINT'),
    region: env.string('S3_REGION', DEFAULT_S3_REGION),
    bucket: env.string('S3_BUCKET'),
    accessKeyId: env.string('S3_ACCESS_KEY_ID'),
    secretAccessKey: env.string('S3_SECRET_ACCESS_KEY'),
  };
}

/** The variables that carry `config`, for a process started locally. */
export function resultsStoreEnv(config: ResultsStoreConfig): Record<keyof typeof RESULTS_STORE_ENV, string> {
  const vars = {} as Record<keyof typeof RESULTS_STORE_ENV, string>;
  for (const [name, key] of Object.entries(RESULTS_STORE_ENV) as [
    keyof typeof RESULTS_STORE_ENV,
    keyof ResultsStoreConfig,
  ][]) {
    vars[name] = config[key];
  }
  return vars;
}
