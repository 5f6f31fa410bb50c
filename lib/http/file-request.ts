import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { addressPermitted, urlHostPermitted, urlPort, type PrivateHostAllowList } from './address-policy.ts';

/**
 * One request for a dataset or algorithm file, as the provider (algorithm checksums) and the configure pod make it.
 * Redirects are never followed: a file's URL is what its publisher encrypted and what the provider checked, and a
 * redirect is how a server sends the fetcher somewhere else (an internal address, or other bytes than it served at
 * the check). Every address connected to is held to the allow list (address-policy.ts), including every address a
 * name resolves to, at connection time, so a name cannot resolve to a public address for a check and to an internal
 * one for the connection. Node's fetch cannot do that without undici's Agent, which is not a dependency here.
 */

export interface FileLocation {
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
}

/** Why a request failed, worded to be safe in a log: never the URL, its query or a header. */
export class FileRequestError extends Error {
  override readonly name = 'FileRequestError';
}

export interface FileRequestOptions {
  allow: PrivateHostAllowList;
  signal?: AbortSignal | undefined;
  /** Resolves names (default node:dns lookup); tests pass their own. */
  lookup?: typeof dnsLookup;
}

const ADDRESS_NOT_ALLOWED = 'address not allowed';

/** A lookup that answers only when every address the name resolves to may be connected to. */
export function guardedLookup(
  allow: PrivateHostAllowList,
  port: number,
  resolve: typeof dnsLookup = dnsLookup,
): LookupFunction {
  return (
    hostname: string,
    options: LookupOptions,
    callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
  ) => {
    resolve(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '');
      const list = addresses as LookupAddress[];
      if (list.length === 0 || list.some((a) => !addressPermitted(a.address, port, allow))) {
        return callback(Object.assign(new FileRequestError(ADDRESS_NOT_ALLOWED), { code: 'EADDRNOTALLOWED' }), '');
      }
      if (options.all) return callback(null, list);
      callback(null, list[0]!.address, list[0]!.family);
    });
  };
}

/** Network error codes worth naming in a log; anything else is a generic network error. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
]);

function safeError(err: unknown): FileRequestError {
  if (err instanceof FileRequestError) return err;
  const code = (err as { code?: unknown }).code;
  if ((err as Error).name === 'AbortError') return new FileRequestError('aborted');
  return new FileRequestError(
    typeof code === 'string' && NETWORK_CODES.has(code) ? `network error ${code}` : 'network error',
  );
}

/**
 * Sends the request and resolves with the response once its headers are in, if it is a 2xx; its body is the
 * caller's to read or destroy. Rejects with a FileRequestError otherwise (refused address, redirect, HTTP status,
 * network error, abort).
 */
export async function openFile(file: FileLocation, opts: FileRequestOptions): Promise<IncomingMessage> {
  let url: URL;
  try {
    url = new URL(file.url);
  } catch {
    throw new FileRequestError('not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new FileRequestError('not an http or https URL');
  if (!urlHostPermitted(url, opts.allow)) throw new FileRequestError(ADDRESS_NOT_ALLOWED);
  const options: RequestOptions = {
    method: file.method,
    headers: file.headers,
    lookup: guardedLookup(opts.allow, urlPort(url), opts.lookup),
    // A pooled socket would skip the lookup above on its next use; files are few and large.
    agent: false,
    ...(opts.signal && { signal: opts.signal }),
  };
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, options, resolve);
    req.on('error', (err) => reject(safeError(err)));
    req.end();
  });
  const status = response.statusCode ?? 0;
  if (status >= 200 && status < 300) return response;
  response.destroy();
  throw new FileRequestError(
    status >= 300 && status < 400 ? `redirect not followed (HTTP ${status})` : `HTTP ${status}`,
  );
}

/**
 * Uploads `body` (exactly `length` bytes) with a PUT, held to the same address rules as openFile and following no
 * redirect: a v2 job's outputs sent to the consumer's own URL (ocean-node's UrlStorage.upload). Resolves on a 2xx;
 * rejects with a FileRequestError otherwise. `idleTimeoutMs` bounds every wait for the network, the answer included.
 */
export async function putFile(
  url: URL,
  headers: Record<string, string>,
  body: Readable,
  length: number,
  opts: FileRequestOptions & { idleTimeoutMs: number },
): Promise<void> {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new FileRequestError('not an http or https URL');
  if (!urlHostPermitted(url, opts.allow)) throw new FileRequestError(ADDRESS_NOT_ALLOWED);
  const options: RequestOptions = {
    method: 'PUT',
    headers: { ...headers, 'content-length': String(length) },
    lookup: guardedLookup(opts.allow, urlPort(url), opts.lookup),
    agent: false,
    timeout: opts.idleTimeoutMs,
    ...(opts.signal && { signal: opts.signal }),
  };
  const status = await new Promise<number>((resolve, reject) => {
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, options, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', (err) => reject(safeError(err)));
    pipeline(body, req).catch((err: unknown) => reject(safeError(err)));
  });
  if (status >= 200 && status < 300) return;
  throw new FileRequestError(
    status >= 300 && status < 400 ? `redirect not followed (HTTP ${status})` : `HTTP ${status}`,
  );
}
