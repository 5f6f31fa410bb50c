import { subscribe } from 'node:diagnostics_channel';
import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import * as functions from '@google-cloud/functions-framework';
import { getRequestListener } from '@hono/node-server';
import type { Hono } from 'hono';
import { bodyLimitOf, DEFAULT_MAX_BODY_BYTES } from './app.ts';
import { HttpError, payloadTooLarge } from './errors.ts';

/**
 * Registers the app as the functions-framework HTTP target `name` (what `--target=name` serves).
 *
 * The framework (5.x) parses every request body with body-parser before calling the target, with a 1 GiB limit,
 * and a body it cannot parse (malformed JSON, an unknown charset) is answered by Express' default error handler:
 * an HTML page, never reaching the app (upstream: GoogleCloudPlatform/functions-framework-nodejs#686, no hook in
 * 5.0.5). So the body is read here first, before Express sees the request: capped at the app's own limit (413 as
 * JSON as soon as the cap is passed, without buffering the rest), and kept as `req.rawBody`. body-parser skips a
 * request whose body was already read, and the app gets the untouched bytes (@hono/node-server reads `rawBody`),
 * so every refusal of a body — malformed, empty, too large — is the app's own JSON answer.
 */
export function registerFunction(name: string, app: Hono): void {
  guardRequestBodies(bodyLimitOf(app) ?? DEFAULT_MAX_BODY_BYTES);
  functions.http(name, getRequestListener(app.fetch));
}

type RawBodyRequest = IncomingMessage & { rawBody?: Buffer };

let bodyCap: number | undefined;
const guarded = new WeakSet<Server>();

/**
 * How long the server keeps an idle connection open. Knative's queue-proxy reuses an idle connection to the function
 * for up to 90 s (knative.dev/pkg/network clones Go's http.DefaultTransport), while Node closes it after 5 s: a request
 * sent just as Node closes the connection is reset, and queue-proxy answers 502 for a POST it cannot retry. Outliving
 * the proxy's reuse leaves the closing to the proxy.
 */
export const IDLE_CONNECTION_TIMEOUT_MS = 100_000;

/**
 * The framework's HTTP server is created after this module is loaded and is not handed to user code. Node publishes
 * every request it receives on the `http.server.request.start` diagnostics channel, with its server, just before
 * emitting `request`; on a server's first request, its `request` listener (the framework's Express app) is wrapped
 * so that it runs after the body has been read, and its idle connections are kept open as long as a proxy reuses them.
 */
function guardRequestBodies(maxBytes: number): void {
  const first = bodyCap === undefined;
  bodyCap = Math.max(bodyCap ?? 0, maxBytes);
  if (!first) return;
  subscribe('http.server.request.start', (message) => {
    const server = (message as { server?: Server }).server;
    if (!server || guarded.has(server)) return;
    guarded.add(server);
    server.keepAliveTimeout = Math.max(server.keepAliveTimeout, IDLE_CONNECTION_TIMEOUT_MS);
    const listeners = server.listeners('request') as RequestListener[];
    server.removeAllListeners('request');
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      readBody(req as RawBodyRequest, res, bodyCap ?? DEFAULT_MAX_BODY_BYTES, () => {
        for (const listener of listeners) listener.call(server, req, res);
      });
    });
  });
}

function refuse(res: ServerResponse, error: HttpError): void {
  const body = JSON.stringify(error.body());
  res.writeHead(error.status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
    // The rest of the body is not read: the connection cannot carry another request.
    Connection: 'close',
  });
  res.end(body);
}

/** Reads the whole body (at most `maxBytes`) into `req.rawBody`, then calls `next`; or answers the refusal. */
function readBody(req: RawBodyRequest, res: ServerResponse, maxBytes: number, next: () => void): void {
  const length = req.headers['content-length'];
  const chunked = req.headers['transfer-encoding'] !== undefined;
  if (!chunked && (length === undefined || length === '0')) {
    next();
    return;
  }
  if (length !== undefined && Number(length) > maxBytes) {
    refuse(res, payloadTooLarge(maxBytes));
    return;
  }
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
  if (encoding !== 'identity') {
    refuse(
      res,
      new HttpError(415, `content-encoding ${encoding} is not supported`, 'body', 'send the body uncompressed'),
    );
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  const onData = (chunk: Buffer): void => {
    size += chunk.length;
    if (size > maxBytes) {
      req.off('data', onData);
      req.off('end', onEnd);
      req.pause();
      refuse(res, payloadTooLarge(maxBytes));
      return;
    }
    chunks.push(chunk);
  };
  const onEnd = (): void => {
    req.rawBody = Buffer.concat(chunks, size);
    next();
  };
  req.on('data', onData);
  req.on('end', onEnd);
  req.once('error', () => res.destroy());
}
