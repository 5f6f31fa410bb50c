/**
 * The HTTP status of a failed Kubernetes API call, or undefined for any other error. client-node's ApiException
 * carries a numeric `code` with the response's `body` and `headers`; the check is by shape so that looking at an
 * error never loads @kubernetes/client-node (the functions load it only when they first talk to Kubernetes).
 */
export function kubeStatus(err: unknown): number | undefined {
  if (!(err instanceof Error)) return undefined;
  const e = err as Error & { code?: unknown };
  return typeof e.code === 'number' && 'body' in e && 'headers' in e ? e.code : undefined;
}
