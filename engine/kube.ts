import { ApiException } from '@kubernetes/client-node';

/** HTTP status of a failed Kubernetes API call, if it was one. */
export function apiStatus(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  const code = (err as { code?: unknown; statusCode?: unknown })?.code ?? (err as { statusCode?: unknown })?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

/** Runs a create; an object that already exists (409) is what was wanted. */
export async function createIdempotent(create: () => Promise<unknown>): Promise<void> {
  try {
    await create();
  } catch (err) {
    if (apiStatus(err) !== 409) throw err;
  }
}

/** Runs a delete; an object already gone (404) is what was wanted. */
export async function deleteIdempotent(del: () => Promise<unknown>): Promise<void> {
  try {
    await del();
  } catch (err) {
    if (apiStatus(err) !== 404) throw err;
  }
}
