import type { S3Client } from '@aws-sdk/client-s3';
import { HttpError, notFound } from '../http/errors.ts';
import { attachmentDisposition, parseRange } from '../http/range.ts';
import type { ResultsStoreConfig } from '../job/results-store-config.ts';
import type { S3Commands } from '../job/results-store.ts';

type S3Sdk = S3Commands;

/** The results bucket. The SDK is loaded, and the client made, on first use (`connect`). */
export interface ObjectStore {
  bucket: string;
  connect(): Promise<{ s3: S3Client; sdk: S3Sdk }>;
}

/**
 * An ObjectStore for `config`, loading @aws-sdk/client-s3 on its first use: the functions that read results (result,
 * logs, delete) pay for the SDK on their first request that needs the store, the others never.
 */
export function lazyObjectStore(config: ResultsStoreConfig): ObjectStore {
  let connected: Promise<{ s3: S3Client; sdk: S3Sdk }> | undefined;
  return {
    bucket: config.bucket,
    connect() {
      connected ??= import('../job/results-store.ts').then((store) => ({
        s3: store.makeS3Client(config),
        sdk: store.S3_COMMANDS,
      }));
      connected.catch(() => {
        connected = undefined;
      });
      return connected;
    },
  };
}

function s3ErrorName(err: unknown): string | undefined {
  const name = (err as { name?: unknown } | null)?.name;
  return typeof name === 'string' ? name : undefined;
}

/**
 * Answers with a stored object, streamed as it arrives (never buffered whole), honouring one byte range: 206 with
 * Content-Range, 416 when the range lies outside the object, 404 when the object is gone (storage expired).
 */
export async function streamObject(
  store: ObjectStore,
  key: string,
  options: { range: string | undefined; filename: string; contentType?: string },
): Promise<Response> {
  const range = parseRange(options.range);
  if (range.kind === 'unsatisfiable') throw new HttpError(416, 'requested range not satisfiable');
  const { s3, sdk } = await store.connect();
  let object;
  try {
    object = await s3.send(
      new sdk.GetObjectCommand({
        Bucket: store.bucket,
        Key: key,
        ...(range.kind === 'range' && { Range: range.header }),
      }),
    );
  } catch (err) {
    const name = s3ErrorName(err);
    if (name === 'NoSuchKey' || name === 'NotFound') throw notFound('stored object');
    if (name === 'InvalidRange') throw new HttpError(416, 'requested range not satisfiable');
    throw err;
  }
  if (!object.Body) throw notFound('stored object');
  const headers = new Headers({
    'Content-Type': options.contentType ?? 'application/octet-stream',
    'Content-Disposition': attachmentDisposition(options.filename),
    'Accept-Ranges': 'bytes',
  });
  if (object.ContentLength !== undefined) headers.set('Content-Length', String(object.ContentLength));
  if (object.ContentRange) headers.set('Content-Range', object.ContentRange);
  if (object.ETag) headers.set('ETag', object.ETag);
  return new Response(object.Body.transformToWebStream(), { status: object.ContentRange ? 206 : 200, headers });
}

/** Removes objects; keys already gone are fine. Throws if the store refuses any. */
export async function deleteObjects(store: ObjectStore, keys: readonly string[]): Promise<void> {
  if (keys.length === 0) return;
  const { s3, sdk } = await store.connect();
  for (let i = 0; i < keys.length; i += 1000) {
    const batch = keys.slice(i, i + 1000);
    const out = await s3.send(
      new sdk.DeleteObjectsCommand({
        Bucket: store.bucket,
        Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
      }),
    );
    const failed = (out.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
    if (failed.length > 0)
      throw new Error(`object store refused to delete ${failed.length} objects: ${failed[0]?.Code}`);
  }
}

/** A stored object's text, or undefined when there is no such object. Throws when it is larger than `maxBytes`. */
export async function readObjectText(store: ObjectStore, key: string, maxBytes: number): Promise<string | undefined> {
  const { s3, sdk } = await store.connect();
  let object;
  try {
    object = await s3.send(new sdk.GetObjectCommand({ Bucket: store.bucket, Key: key }));
  } catch (err) {
    const name = s3ErrorName(err);
    if (name === 'NoSuchKey' || name === 'NotFound') return undefined;
    throw err;
  }
  if (!object.Body) return undefined;
  if ((object.ContentLength ?? 0) > maxBytes) {
    (object.Body as { destroy?: () => void }).destroy?.();
    throw new Error(`stored object ${key} is larger than ${maxBytes} bytes`);
  }
  return object.Body.transformToString();
}

/** Every key under a prefix. */
export async function listKeys(store: ObjectStore, prefix: string): Promise<string[]> {
  const { s3, sdk } = await store.connect();
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new sdk.ListObjectsV2Command({ Bucket: store.bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys;
}
