import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { once } from 'node:events';
import type { FileAccess } from '../../lib/job/workflow.ts';
import type { Fetched } from './verify.ts';

export interface DownloadLimits {
  /** Until the response headers arrive (connection, TLS, request, server think time). */
  connectTimeoutMs: number;
  /** For the whole transfer. */
  totalTimeoutMs: number;
  /** The most bytes this file may have. */
  maxBytes: number;
}

/**
 * A download that failed, with a reason safe to log: it never holds the URL, its query or headers (file URLs are
 * what the publisher encrypted in the DDO).
 */
export class DownloadError extends Error {}

/** Network error codes worth naming in a log; anything else is reported as a generic network error. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET', 'CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE']);

function safeReason(err: unknown, connectTimedOut: boolean, totalTimedOut: boolean): string {
  if (err instanceof DownloadError) return err.message;
  if (connectTimedOut) return 'connect timeout';
  if (totalTimedOut) return 'total timeout';
  const code = (err as { cause?: { code?: unknown } })?.cause?.code;
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return `network error ${code}`;
  return 'network error';
}

/** Streams a file to `dest` (via a temporary `.part` file), hashing and counting as it goes. */
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
    const res = await fetch(access.url, {
      method: access.method,
      headers: access.headers,
      redirect: 'follow',
      signal: AbortSignal.any([connect.signal, total.signal]),
    });
    clearTimeout(connectTimer);
    if (!res.ok) {
      await res.body?.cancel();
      throw new DownloadError(`HTTP ${res.status}`);
    }
    const announced = Number(res.headers.get('content-length') ?? NaN);
    if (Number.isFinite(announced) && announced > limits.maxBytes) {
      await res.body?.cancel();
      throw new DownloadError(`announced size ${announced} bytes exceeds the limit of ${limits.maxBytes}`);
    }
    const hash = createHash('sha256');
    let bytes = 0;
    const out = createWriteStream(part, { mode: 0o644 });
    try {
      if (res.body) {
        for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
          bytes += chunk.byteLength;
          if (bytes > limits.maxBytes) throw new DownloadError(`size exceeds the limit of ${limits.maxBytes} bytes`);
          hash.update(chunk);
          if (!out.write(chunk)) await once(out, 'drain');
        }
      }
      out.end();
      await once(out, 'finish');
    } finally {
      out.destroy();
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
