import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { NO_PRIVATE_HOSTS, type PrivateHostAllowList } from '../../lib/http/address-policy.ts';
import { FileRequestError, openFile } from '../../lib/http/file-request.ts';
import type { FileAccess } from '../../lib/job/workflow.ts';
import type { Fetched } from './verify.ts';

export interface DownloadLimits {
  /** Until the response headers arrive (connection, TLS, request, server think time). */
  connectTimeoutMs: number;
  /** For the whole transfer. */
  totalTimeoutMs: number;
  /** The most bytes this file may have. */
  maxBytes: number;
  /** Loopback, private and link-local addresses this pod may download from (default none). */
  privateHosts?: PrivateHostAllowList;
}

/**
 * A download that failed, with a reason safe to log: it never holds the URL, its query or headers (file URLs are
 * what the publisher encrypted in the DDO).
 */
export class DownloadError extends Error {}

function safeReason(err: unknown, connectTimedOut: boolean, totalTimedOut: boolean): string {
  if (err instanceof DownloadError) return err.message;
  if (connectTimedOut) return 'connect timeout';
  if (totalTimedOut) return 'total timeout';
  if (err instanceof FileRequestError) return err.message;
  return 'network error';
}

/**
 * Streams a file to `dest` (via a temporary `.part` file), hashing and counting as it goes. Redirects are not
 * followed, for datasets as for the algorithm (lib/http/file-request.ts says why): a publisher's URL must serve the
 * file itself.
 */
export async function downloadToFile(access: FileAccess, dest: string, limits: DownloadLimits): Promise<Fetched> {
  const connect = new AbortController();
  const total = new AbortController();
  let connectTimedOut = false;
  let totalTimedOut = false;
  const connectTimer = setTimeout(() => {
    connectTimedOut = true;
    connect.abort();
  }, limits.connectTimeoutMs);
  const totalTimer = setTimeout(() => {
    totalTimedOut = true;
    total.abort();
  }, limits.totalTimeoutMs);
  const part = `${dest}.part`;
  try {
    const res = await openFile(access, {
      allow: limits.privateHosts ?? NO_PRIVATE_HOSTS,
      signal: AbortSignal.any([connect.signal, total.signal]),
    });
    clearTimeout(connectTimer);
    const announced = Number(res.headers['content-length'] ?? NaN);
    if (Number.isFinite(announced) && announced > limits.maxBytes) {
      res.destroy();
      throw new DownloadError(`announced size ${announced} bytes exceeds the limit of ${limits.maxBytes}`);
    }
    const hash = createHash('sha256');
    let bytes = 0;
    const out = createWriteStream(part, { mode: 0o644 });
    try {
      for await (const chunk of res as AsyncIterable<Buffer>) {
        bytes += chunk.byteLength;
        if (bytes > limits.maxBytes) throw new DownloadError(`size exceeds the limit of ${limits.maxBytes} bytes`);
        hash.update(chunk);
        if (!out.write(chunk)) await once(out, 'drain');
      }
      out.end();
      await once(out, 'finish');
    } finally {
      res.destroy();
      // The file is opened asynchronously: wait for the stream to close, so that the cleanup below finds the file.
      if (!out.closed) {
        const closed = once(out, 'close');
        out.destroy();
        await closed;
      }
    }
    await rename(part, dest);
    return { bytes, sha256: hash.digest('hex') };
  } catch (err) {
    await rm(part, { force: true });
    throw new DownloadError(safeReason(err, connectTimedOut, totalTimedOut));
  } finally {
    clearTimeout(connectTimer);
    clearTimeout(totalTimer);
  }
}
