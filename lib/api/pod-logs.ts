import { PassThrough, Readable } from 'node:stream';
import { notFound } from '../http/errors.ts';
import { kubeStatus } from '../kube/errors.ts';
import type { Kube } from '../kube/lazy.ts';

export interface PodLogSource {
  kube(): Promise<Kube>;
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
  const { kc, core, k8s } = await source.kube();
  let container: string | undefined;
  try {
    const pod = await core.readNamespacedPod({ name: podName, namespace: source.namespace });
    if (
      pod.status?.phase === 'Pending' &&
      !pod.status.containerStatuses?.some((s) => s.state?.running || s.state?.terminated)
    ) {
      throw notFound('log (the stage has not started yet)');
    }
    container = pod.spec?.containers[0]?.name;
  } catch (err) {
    if (kubeStatus(err) === 404) return undefined;
    throw err;
  }
  if (container === undefined) return undefined;
  const sink = new PassThrough();
  // client-node pipes the response body into `sink` without listening for its errors: aborting the request (the
  // caller went away) or the API server cutting the stream would be an unhandled 'error' and end the process.
  sink.on('pipe', (source: NodeJS.ReadableStream) => source.on('error', () => sink.destroy()));
  let upstream: AbortController;
  try {
    upstream = await new k8s.Log(kc).log(source.namespace, podName, container, sink, { follow });
  } catch (err) {
    // The pod went away between reading it and asking for its log: the caller falls back to the stored copy.
    const code = kubeStatus(err);
    if (code === 400 || code === 404) return undefined;
    throw err;
  }
  signal.addEventListener('abort', () => {
    upstream.abort();
    sink.destroy();
  });
  return Readable.toWeb(sink) as ReadableStream<Uint8Array>;
}
