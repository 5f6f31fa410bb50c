import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { z } from 'zod';
import { badRequest, fromZodError, HttpError, payloadTooLarge, toHttpError } from './errors.ts';
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

export function parseWith<S extends z.ZodType>(schema: S, value: unknown, root: string): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw fromZodError(result.error, root);
  return result.data;
}

/** Query parameters through a zod schema; a parameter given twice is refused rather than guessed at. */
export function parseQuery<S extends z.ZodType>(c: Context, schema: S): z.output<S> {
  const single: Record<string, string> = {};
  for (const [key, values] of Object.entries(c.req.queries())) {
    if (values.length > 1) throw badRequest(key, 'given more than once');
    if (values[0] !== undefined) single[key] = values[0];
  }
  return parseWith(schema, single, 'query');
}

/** A JSON body through a zod schema. Empty or malformed JSON is a 400 naming `body`. */
export async function parseJsonBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.output<S>> {
  const text = await c.req.text();
  if (text.trim() === '') throw badRequest('body', 'a JSON body is required');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw badRequest('body', 'not valid JSON');
  }
  return parseWith(schema, raw, 'body');
}

export { HttpError };
