import { CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { waitFor } from '../../devcluster/processes.ts';

/** Waits until the pod reaches one of `phases` and returns it. */
export async function waitForPodPhase(
  core: CoreV1Api,
  namespace: string,
  name: string,
  phases: string[],
  timeoutMs = 60_000,
): Promise<V1Pod> {
  let pod: V1Pod | undefined;
  await waitFor(
    `pod ${namespace}/${name} to be ${phases.join('|')}`,
    async () => {
      pod = await core.readNamespacedPod({ name, namespace });
      return phases.includes(pod.status?.phase ?? '');
    },
    timeoutMs,
    100,
  );
  return pod!;
}

export async function waitForPodGone(
  core: CoreV1Api,
  namespace: string,
  name: string,
  timeoutMs = 30_000,
): Promise<void> {
  await waitFor(
    `pod ${namespace}/${name} to be deleted`,
    async () => {
      try {
        await core.readNamespacedPod({ name, namespace });
        return false;
      } catch (err) {
        if ((err as { code?: number }).code === 404) return true;
        throw err;
      }
    },
    timeoutMs,
    100,
  );
}

/** A restricted-compliant single-container pod spec running `command` in `image`. */
export function simplePod(
  name: string,
  image: string,
  command: string[],
  extra: Partial<V1Pod['spec']> = {},
  labels: Record<string, string> = {},
): V1Pod {
  return {
    metadata: { name, labels },
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'main',
          image,
          command,
          securityContext: {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ['ALL'] },
          },
        },
      ],
      ...extra,
    },
  };
}

export function coreApi(kc: KubeConfig): CoreV1Api {
  return kc.makeApiClient(CoreV1Api);
}
