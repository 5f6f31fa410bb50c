import { zValidator } from '@hono/zod-validator';
import type { Context } from 'hono';
import type { z } from 'zod';
import { badRequest, fromZodError } from './errors.ts';

/**
 * Request validation: @hono/zod-validator runs the schema, and its hook turns a refusal into the same 400 every
 * other caller error is (lib/http/errors.ts: `field` and `reason` name what to fix), thrown to the app's error
 * mapper.
 */

function refuseInvalid(root: 'body' | 'query') {
  return (
    result:
      { success: true; data: unknown } | { success: false; data: unknown; error: Pick<z.core.$ZodError, 'issues'> },
  ): void => {
    // Hono hands a repeated query parameter over as an array: refused rather than guessed at.
    if (root === 'query') {
      for (const [key, value] of Object.entries(result.data as Record<string, unknown>)) {
        if (Array.isArray(value)) throw badRequest(key, 'given more than once');
      }
    }
    if (!result.success) throw fromZodError(result.error, root);
  };
}

/** Query parameters through `schema`; a parameter given twice is a 400 naming it. Read with `c.req.valid('query')`. */
export function validQuery<S extends z.ZodType>(schema: S) {
  return zValidator('query', schema, refuseInvalid('query'));
}

const JSON_TYPE = /^application\/([\w.-]+\+)?json$/i;

/**
 * Hono's validator reads a body only when it is declared JSON; this API has always read the body as JSON whatever
 * its declared type (and refused an empty or malformed one naming `body`), and keeps doing so: the parsed body is
 * handed to the validator as a JSON request's.
 */
async function readJsonBody(c: Context): Promise<void> {
  const text = await c.req.text();
  if (text.trim() === '') throw badRequest('body', 'a JSON body is required');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw badRequest('body', 'not valid JSON');
  }
  c.req.bodyCache.json = Promise.resolve(parsed);
  const declared = (c.req.header('content-type') ?? '').split(';')[0]!.trim();
  if (!JSON_TYPE.test(declared)) {
    const headers = new Headers(c.req.raw.headers);
    headers.set('content-type', 'application/json');
    c.req.raw = new Request(c.req.raw.url, { method: c.req.raw.method, headers });
  }
}

/** A JSON body through `schema`: 400 naming `body` when it is empty or not JSON, else naming the field at fault. */
export function validJson<S extends z.ZodType>(schema: S) {
  const validate = zValidator('json', schema, refuseInvalid('body'));
  const middleware: typeof validate = async (c, next) => {
    await readJsonBody(c);
    return validate(c, next);
  };
  return middleware;
}
