import { DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { MAX_MANIFEST_BYTES, jobResultsPrefix, parseResultsManifest, resultsManifestKey } from './results-manifest.ts';
import type { Result, ResultType } from './status.ts';
import type { ResultsStoreConfig } from './results-store-config.ts';

/**
 * Where a job's results live in the S3-compatible store: `<jobId>/outputs/<path>`, `<jobId>/logs/<name>` and the
 * manifest listing them, `<jobId>/manifest.json`; and the one place an S3 client is made (settings:
 * results-store-config.ts).
 */

/** `requestTimeoutMs`: each request (connecting included) fails with a TimeoutError after this long; unset, unbounded. */
/**
 * The SDK commands lib/api/objects.ts sends, from this module's static import: a bundle (scripts/bundle-functions.ts)
 * turns a dynamic `import('@aws-sdk/client-s3')` of the SDK's CommonJS build into a namespace with a default export
 * only, where every command is undefined (found by the functions image on Knative: `GetObjectCommand is not a
 * constructor`).
 */
export const S3_COMMANDS = { DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command };
export type S3Commands = typeof S3_COMMANDS;

export function makeS3Client(config: ResultsStoreConfig, options: { requestTimeoutMs?: number } = {}): S3Client {
  // The SDK's documented switch for its "node >= 22 after January 2027" notice (aws/aws-sdk-js-v3#7983), printed at
  // each client creation on Node 20; an operator who sets the variable keeps their choice.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return new S3Client({
    endpoint: config.endpoint,
    region: config.region,
    forcePathStyle: true,
    credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey },
    ...(options.requestTimeoutMs !== undefined && {
      requestHandler: {
        connectionTimeout: options.requestTimeoutMs,
        requestTimeout: options.requestTimeoutMs,
        throwOnRequestTimeout: true,
      },
    }),
  });
}

/** The object key of one result; `filename` is a `/`-separated path relative to outputs/ or logs/. */
export function resultObjectKey(jobId: string, type: ResultType, filename: string): string {
  if (filename.split('/').some((part) => part === '' || part === '.' || part === '..'))
    throw new Error('unsafe result filename');
  return `${jobResultsPrefix(jobId)}${type === 'output' ? 'outputs' : 'logs'}/${filename}`;
}

/** Removes every stored object of a job; returns how many were deleted. Deleting nothing is fine. */
export async function deleteJobResults(client: S3Client, bucket: string, jobId: string): Promise<number> {
  const prefix = jobResultsPrefix(jobId);
  let deleted = 0;
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    const keys = (page.Contents ?? []).map((o) => o.Key).filter((k): k is string => Boolean(k));
    if (keys.length) {
      const res = await client.send(
        new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true } }),
      );
      if (res.Errors?.length) throw new Error(`could not delete ${res.Errors.length} objects of job ${jobId}`);
      deleted += keys.length;
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return deleted;
}

/**
 * Every result a job's publish pod stored, from its manifest; an error when there is none (publish did not get that
 * far) or it cannot be used. Failures to reach the store throw, to be retried.
 */
export async function readResultsManifest(
  client: S3Client,
  bucket: string,
  jobId: string,
): Promise<Result[] | { error: string }> {
  let object;
  try {
    object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: resultsManifestKey(jobId) }));
  } catch (err) {
    if ((err as { name?: unknown }).name === 'NoSuchKey') return { error: 'no results manifest in the store' };
    throw err;
  }
  if (!object.Body) return { error: 'no results manifest in the store' };
  if ((object.ContentLength ?? 0) > MAX_MANIFEST_BYTES) {
    (object.Body as { destroy?: () => void }).destroy?.();
    return { error: `the results manifest is larger than ${MAX_MANIFEST_BYTES} bytes` };
  }
  return parseResultsManifest(jobId, await object.Body.transformToString());
}
