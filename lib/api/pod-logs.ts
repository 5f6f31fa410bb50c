import { PassThrough, Readable } from 'node:stream';
import { ApiException, Log, type CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { notFound } from '../http/errors.ts';

export interface PodLogSource {
  kc: KubeConfig;
  core: CoreV1Api;
  namespace: string;
}

/**
 * The log of a pod's (first) container through the API server's pod log endpoint, streamed; with `follow` it stays
 * open while the container runs. Undefined when the pod no longer exists, 404 while it has not started yet.
 * Aborting `signal` (the caller went away) closes the upstream request.
 */
export async function streamPodLog(
  source: PodLogSource,
  podName: string,
  follow: boolean,
  signal: AbortSignal,
): Promise<ReadableStream<Uint8Array> | undefined> {
  let container: string | undefined;
  try {
    const pod = await source.core.readNamespacedPod({ name: podName, namespace: source.namespace });
    if (pod.status?.phase === 'Pending' && !pod.status.containerStatuses?.some((s) => s.state?.running || s.state?.terminated)) {
      throw notFound('log (the stage has not started yet)');
    }
    container = pod.spec?.containers[0]?.name;
  } catch (err) {
    if (err instanceof ApiException && (err as ApiException<unknown>).code === 404) return undefined;
    throw err;
  }
  if (container === undefined) return undefined;
  const sink = new PassThrough();
  let upstream: AbortController;
  try {
    upstream = await new Log(source.kc).log(source.namespace, podName, container, sink, { follow });
  } catch (err) {
    // The pod went away between reading it and asking for its log: the caller falls back to the stored copy.
    if (err instanceof ApiException && [400, 404].includes((err as ApiException<unknown>).code)) return undefined;
    throw err;
  }
  signal.addEventListener('abort', () => {
    upstream.abort();
    sink.destroy();
  });
  return Readable.toWeb(sink) as ReadableStream<Uint8Array>;
}
