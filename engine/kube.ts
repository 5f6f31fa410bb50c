import { kubeStatus } from '../lib/kube/errors.ts';

/** A 4xx other than 409 (conflict) and 429 (throttled): the API server will refuse the same request again. */
export function isPermanentRefusal(status: number | undefined): boolean {
  return status !== undefined && status >= 400 && status < 500 && status !== 409 && status !== 429;
}

/** The message of the Status an API error carries (client-node keeps the response body as text or as parsed JSON). */
export function apiMessage(err: unknown): string {
  const body = (err as { body?: unknown })?.body;
  let parsed: unknown = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return body.slice(0, 512);
    }
  }
  const message = (parsed as { message?: unknown } | undefined)?.message;
  return typeof message === 'string'
    ? message.slice(0, 512)
    : ((err as Error)?.message?.slice(0, 512) ?? 'unknown error');
}

/** Runs a create; an object that already exists (409) is what was wanted. */
export async function createIdempotent(create: () => Promise<unknown>): Promise<void> {
  try {
    await create();
  } catch (err) {
    if (kubeStatus(err) !== 409) throw err;
  }
}

/** Runs a delete; an object already gone (404) is what was wanted. */
export async function deleteIdempotent(del: () => Promise<unknown>): Promise<void> {
  try {
    await del();
  } catch (err) {
    if (kubeStatus(err) !== 404) throw err;
  }
}
