import { createReadStream } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { Readable } from 'node:stream';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { PrivateHostAllowList } from '../../lib/http/address-policy.ts';
import { FileRequestError, guardedLookup, putFile } from '../../lib/http/file-request.ts';
import { outputCipher, outputCipherLength } from '../../lib/job/output-key.ts';
import {
  objectKeyFor,
  OutputTargetError,
  urlFor,
  type OutputRequest,
  type OutputTarget,
} from '../../lib/job/output-target.ts';
import { entryHeader, entryPadding, TAR_END, tarLength, type TarEntry } from './tar.ts';
import type { WalkedFile } from './walk.ts';

/**
 * Sends a v2 job's outputs to the consumer's own storage target, as ocean-node's docker engine does: one tar archive
 * of outputs/ named `outputs-<environment>-<jobId>.tar`, AES-encrypted on the way when the consumer asked for it.
 */

/** S3's limit for one PutObject. */
export const S3_MAX_PUT_BYTES = 5 * 1024 ** 3;

export interface UploadSettings {
  allow: PrivateHostAllowList;
  /** Bound on each wait for the network (connecting, and every read or write while sending). */
  idleTimeoutMs: number;
}

export interface Archive {
  length: number;
  body: () => Readable;
}

/** The archive of `files` (walked under outputs/), as ocean-node's: `outputs/` and then `outputs/<path>`. */
export function outputsArchive(files: readonly WalkedFile[], mtime: number): Archive {
  const entries: Array<TarEntry & { file?: WalkedFile }> = [
    { path: 'outputs/', size: 0 },
    ...files.map((file) => ({ path: `outputs/${file.relative}`, size: file.size, file })),
  ];
  async function* generate(): AsyncGenerator<Buffer> {
    for (const entry of entries) {
      yield entryHeader(entry, mtime);
      if (!entry.file || entry.size === 0) continue;
      let read = 0;
      for await (const chunk of createReadStream(entry.file.absolute, { start: 0, end: entry.size - 1 })) {
        read += (chunk as Buffer).length;
        yield chunk as Buffer;
      }
      // The length was promised up front: a file that shrank since it was walked cannot be sent as it was.
      if (read !== entry.size) throw new OutputTargetError('an output changed while it was being archived');
      yield entryPadding(entry.size);
    }
    yield TAR_END;
  }
  return { length: tarLength(entries), body: () => Readable.from(generate(), { objectMode: false }) };
}

/**
 * The archive as it leaves: encrypted when the consumer gave an AES key. `publicKey`: the compressed output public key
 * (nodePublicKey), whose first 16 bytes are the initialization vector.
 */
export function sealed(archive: Archive, request: OutputRequest, publicKey: string): Archive {
  const key = request.aesKey;
  if (!key) return archive;
  return {
    length: outputCipherLength(archive.length),
    body: () => archive.body().pipe(outputCipher(key, publicKey)),
  };
}

function targetS3Client(target: Extract<OutputTarget, { kind: 's3' }>, settings: UploadSettings): S3Client {
  const port = (url: URL) => (url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80);
  const lookup = guardedLookup(settings.allow, port(target.endpoint));
  return new S3Client({
    endpoint: target.endpoint.toString(),
    region: target.region,
    forcePathStyle: target.forcePathStyle,
    credentials: { accessKeyId: target.accessKeyId, secretAccessKey: target.secretAccessKey },
    maxAttempts: 1,
    followRegionRedirects: false,
    requestHandler: {
      httpAgent: new HttpAgent({ lookup }),
      httpsAgent: new HttpsAgent({ lookup }),
      connectionTimeout: settings.idleTimeoutMs,
      socketTimeout: settings.idleTimeoutMs,
    },
  });
}

/** Headers the request itself sets: a consumer's would contradict the body sent. */
const OWN_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'expect']);

/** Why an upload failed, in words safe for a log: never a host, bucket, key or credential. */
export function describeUploadError(err: unknown): string {
  if (err instanceof FileRequestError || err instanceof OutputTargetError) return err.message;
  const e = err as { name?: unknown; code?: unknown; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  if (typeof e.code === 'string' && /^E[A-Z_]+$/.test(e.code)) return `network error ${e.code}`;
  if (status !== undefined && typeof e.name === 'string' && /^[A-Za-z]{1,64}$/.test(e.name))
    return `the store answered ${e.name} (HTTP ${status})`;
  if (status !== undefined) return `the store answered HTTP ${status}`;
  // A timeout, or a fault of this program: its class says which, and nothing of the target.
  return typeof e.name === 'string' && /^[A-Za-z]{1,64}$/.test(e.name) ? e.name : 'an unknown error';
}

export async function uploadArchive(
  request: OutputRequest,
  filename: string,
  archive: Archive,
  settings: UploadSettings,
): Promise<void> {
  const target = request.target;
  if (target.kind === 's3') {
    if (archive.length > S3_MAX_PUT_BYTES)
      throw new OutputTargetError(`the archive's ${archive.length} bytes exceed one S3 upload's ${S3_MAX_PUT_BYTES}`);
    const client = targetS3Client(target, settings);
    try {
      await client.send(
        new PutObjectCommand({
          Bucket: target.bucket,
          Key: objectKeyFor(target.objectKey, filename),
          Body: archive.body(),
          ContentLength: archive.length,
          ContentType: 'application/octet-stream',
          ContentDisposition: `attachment; filename="${filename}"`,
        }),
      );
    } finally {
      client.destroy();
    }
    return;
  }
  await putFile(
    urlFor(target.url, filename),
    {
      'content-type': 'application/octet-stream',
      ...Object.fromEntries(Object.entries(target.headers).filter(([name]) => !OWN_HEADERS.has(name.toLowerCase()))),
      'content-disposition': `attachment; filename="${filename}"`,
    },
    archive.body(),
    archive.length,
    { allow: settings.allow, idleTimeoutMs: settings.idleTimeoutMs },
  );
}
