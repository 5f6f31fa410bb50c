import { z } from 'zod';
import { kubeStatus } from '../kube/errors.ts';

/**
 * The JSON body of every error answer. Ocean's clients print `error`; `field` and `reason` say what to fix; `code`
 * names a refused access check (e.g. ORDER_WRONG_CONSUMER) for clients that act on it.
 */
export interface ErrorBody {
  error: string;
  code?: string;
  field?: string;
  reason?: string;
}

/** An error whose status and message are meant for the caller. Anything else becomes a bare 500 or 503. */
export class HttpError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409 | 413 | 415 | 416 | 500 | 503,
    message: string,
    readonly field?: string,
    readonly reason?: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }

  body(): ErrorBody {
    return {
      error: this.message,
      ...(this.code !== undefined && { code: this.code }),
      ...(this.field !== undefined && { field: this.field }),
      ...(this.reason !== undefined && { reason: this.reason }),
    };
  }
}

export const badRequest = (field: string, reason: string): HttpError =>
  new HttpError(400, `invalid ${field}: ${reason}`, field, reason);
export const unauthorized = (reason: string): HttpError => new HttpError(401, reason);
export const forbidden = (reason: string): HttpError => new HttpError(403, reason);
export const notFound = (what: string): HttpError => new HttpError(404, `${what} not found`);
export const conflict = (reason: string): HttpError => new HttpError(409, reason);
export const unavailable = (reason: string): HttpError => new HttpError(503, reason);
export const payloadTooLarge = (maxBytes: number): HttpError =>
  new HttpError(413, `body larger than ${maxBytes} bytes`, 'body', `larger than ${maxBytes} bytes`);

/** The first zod issue as a 400: its path (dotted, `body` for the root) and message. */
export function fromZodError(error: Pick<z.core.$ZodError, 'issues'>, root = 'body'): HttpError {
  const issue = error.issues[0];
  if (!issue) return badRequest(root, 'invalid');
  const field = issue.path.length > 0 ? issue.path.map(String).join('.') : root;
  return badRequest(field, issue.message);
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  // undici (client-node's HTTP client since 2.0) when the API server closes a kept-alive connection mid-answer.
  'UND_ERR_SOCKET',
]);
const ETHERS_UNAVAILABLE = new Set(['NETWORK_ERROR', 'TIMEOUT', 'SERVER_ERROR', 'UNKNOWN_ERROR']);

function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  return errorCode((err as { cause?: unknown }).cause);
}

/**
 * Maps anything thrown while answering to what the caller gets. Caller errors are HttpErrors thrown on purpose;
 * a dependency that cannot be reached (Kubernetes, the chain RPC, the object store) is 503 with a reason; the rest
 * is an internal error whose details stay in the log.
 */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof z.ZodError) return fromZodError(err);
  const kubeCode = kubeStatus(err);
  if (kubeCode !== undefined) {
    if (kubeCode === 429 || kubeCode >= 500) return unavailable('kubernetes API unavailable');
    return new HttpError(500, 'internal error');
  }
  // Errors of the shared libraries (access checks, chain) that carry their own status, code and the field at fault.
  const status = (err as { httpStatus?: unknown } | null)?.httpStatus;
  if (typeof status === 'number' && [400, 401, 403, 404, 409, 503].includes(status)) {
    const { field, code } = err as { field?: unknown; code?: unknown };
    const message = (err as Error).message;
    return new HttpError(
      status as HttpError['status'],
      message,
      typeof field === 'string' ? field : undefined,
      undefined,
      typeof code === 'string' ? code : undefined,
    );
  }
  const code = errorCode(err);
  if (code !== undefined && ETHERS_UNAVAILABLE.has(code)) return unavailable('chain RPC unavailable');
  if (code !== undefined && NETWORK_CODES.has(code)) return unavailable('upstream service unreachable');
  if ((err as { $metadata?: unknown } | null)?.$metadata !== undefined) return unavailable('object store unavailable');
  return new HttpError(500, 'internal error');
}
