import type { V1ContainerStatus, V1Pod, V1PodStatus } from '@kubernetes/client-node';

/**
 * The status of a pod this node had started before it restarted, as a kubelet reports it (pkg/kubelet/kubelet_pods.go,
 * convertToAPIContainerStatuses and getPhase): a container whose end was already reported keeps it; one that was not
 * is ContainerStatusUnknown (exit 137); and the pod's phase follows from its containers like any other pod's — one
 * whose every container had ended with 0 before the restart did its work and has Succeeded. Reporting that pod Failed
 * would tell its owner that a program which exited 0 failed.
 */
export function lostPodStatus(pod: V1Pod, at: Date): V1PodStatus {
  const status = structuredClone(pod.status ?? {});
  const lost = {
    exitCode: 137,
    reason: 'ContainerStatusUnknown',
    message: 'The container could not be located when the pod was terminated',
    finishedAt: at,
  };
  const known = status.containerStatuses ?? [];
  status.containerStatuses = (pod.spec?.containers ?? []).map(
    (c): V1ContainerStatus =>
      known.find((cs) => cs.name === c.name) ?? {
        name: c.name,
        image: c.image ?? '',
        imageID: '',
        ready: false,
        restartCount: 0,
      },
  );
  for (const cs of [...(status.initContainerStatuses ?? []), ...status.containerStatuses]) {
    if (!cs.state?.terminated) cs.state = { terminated: lost };
    cs.ready = false;
  }
  const succeeded =
    pod.spec?.restartPolicy !== 'Always' &&
    status.containerStatuses.every((cs) => cs.state?.terminated?.exitCode === 0);
  status.phase = succeeded ? 'Succeeded' : 'Failed';
  return status;
}
