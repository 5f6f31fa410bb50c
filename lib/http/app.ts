import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { payloadTooLarge, toHttpError } from './errors.ts';
import type { Logger } from './log.ts';

/** Bodies of this API are small JSON documents; the cap keeps a caller from making a replica buffer more. */
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024;

const bodyLimits = new WeakMap<Hono, number>();

/** The body cap of an app made by createFunctionApp, for the server in front of it to hold bodies to the same. */
export function bodyLimitOf(app: Hono): number | undefined {
  return bodyLimits.get(app);
}

export interface FunctionAppOptions {
  name: string;
  logger: Logger;
  maxBodyBytes?: number;
}

/**
 * The Hono app every function starts from: body cap, one JSON log line per request (method, path, status and
 * duration; never the query, which carries signatures), errors mapped to statuses, JSON 404 for unknown routes.
 */
export function createFunctionApp({ name, logger, maxBodyBytes = DEFAULT_MAX_BODY_BYTES }: FunctionAppOptions): Hono {
  const app = new Hono();
  app.use('*', async (c, next) => {
    const started = performance.now();
    await next();
    logger.info('request', {
      fn: name,
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      ms: Math.round(performance.now() - started),
    });
  });
  app.use(
    '*',
    bodyLimit({
      maxSize: maxBodyBytes,
      onError: (c) => c.json(payloadTooLarge(maxBodyBytes).body(), 413),
    }),
  );
  bodyLimits.set(app, maxBodyBytes);
  app.onError((err, c) => {
    const httpError = toHttpError(err);
    if (httpError.status >= 500) logger.error('request failed', { fn: name, path: c.req.path, error: err });
    return c.json(httpError.body(), httpError.status);
  });
  app.notFound((c) => c.json({ error: `no route ${c.req.method} ${c.req.path}` }, 404));
  return app;
}
