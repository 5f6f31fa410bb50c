import type { ObservedPod } from './planner.ts';

/**
 * Whether the infrastructure, not the program in the pod, ended (or keeps from starting) a stage's pod: a pure
 * reading of the signs the kubelet, the scheduler and the node controllers leave on a pod. The planner retries a
 * stage on these (docs/reliability.md) and otherwise ends the job 73 "Infrastructure failed", never 41: a node that
 * died under the algorithm says nothing about the algorithm.
 */

/**
 * Pod reasons given by whoever ended the pod in its program's place: node-pressure eviction (Evicted), the node
 * controller (NodeLost), preemption (Preempting), admission on the node (UnexpectedAdmissionError, NodeAffinity,
 * OutOf<resource>), a graceful node shutdown (Terminated, Shutdown, NodeShutdown).
 */
const POD_REASONS = new Set([
  'Evicted',
  'NodeLost',
  'Preempting',
  'UnexpectedAdmissionError',
  'NodeAffinity',
  'Terminated',
  'Shutdown',
  'NodeShutdown',
]);

/**
 * A container the kubelet lost track of (its node restarted, or its runtime lost it): exit 137, "The container could
 * not be located when the pod was terminated".
 */
const CONTAINER_REASONS = new Set(['ContainerStatusUnknown']);

/**
 * The kubelet evicts a pod for its own use of ephemeral storage with these messages (pkg/kubelet/eviction/helpers.go:
 * the pod's total, a container's limit, an emptyDir's sizeLimit): that is the job's doing, not the node's.
 */
const OWN_STORAGE_EVICTION = /exceeds the total limit|exceeded its local ephemeral storage limit|exceeds the limit/i;

/** Whether the kubelet evicted the pod for its own use of ephemeral storage (its limits, an emptyDir's sizeLimit). */
export function isOwnStorageEviction(pod: Pick<ObservedPod, 'reason' | 'message'>): boolean {
  return pod.reason === 'Evicted' && OWN_STORAGE_EVICTION.test(pod.message ?? '');
}

/** Images the node could not get; the kubelet itself keeps trying to pull these. */
const IMAGE_PULL_REASONS = new Set(['ErrImagePull', 'ImagePullBackOff', 'RegistryUnavailable', 'ErrImageInspect']);

/** Image references the node can never use: the same pod again would fail the same way. */
const IMAGE_REFUSED_REASONS = new Set(['InvalidImageName', 'ErrImageNeverPull']);

export interface Disruption {
  /** The sign seen: a pod or container reason, a DisruptionTarget reason, or PodDeleted. */
  reason: string;
  message?: string;
}

/** Whether the OutOf<resource> reasons of node admission apply (OutOfcpu, OutOfmemory, OutOfpods, …). */
const isOutOfResource = (reason: string): boolean => /^OutOf[a-z-]+$/.test(reason);

/**
 * The infrastructure's reason for a pod that ended, or is ending, without its program having finished on its own;
 * undefined when the pod is still running normally, or its program ended by itself (exit code, OOMKilled, its
 * deadline, its own storage eviction).
 */
export function podDisruption(pod: ObservedPod): Disruption | undefined {
  if (pod.phase === 'Succeeded') return undefined;
  const withMessage = (reason: string): Disruption => ({ reason, ...(pod.message ? { message: pod.message } : {}) });
  if (pod.disruptionTarget) return withMessage(pod.disruptionTarget);
  const reason = pod.reason ?? '';
  if (isOwnStorageEviction(pod)) return undefined;
  if (POD_REASONS.has(reason) || isOutOfResource(reason)) return withMessage(reason);
  if (pod.containerReason && CONTAINER_REASONS.has(pod.containerReason)) return withMessage(pod.containerReason);
  // Deleted by someone else while it ran (the engine deletes a stage's pod only when it leaves the stage): the
  // deletion, not the program, ended it, whatever exit code the kill left.
  if (pod.deleting && pod.reason !== 'DeadlineExceeded')
    return { reason: 'PodDeleted', message: 'the pod was deleted' };
  return undefined;
}

/** How the node failed to get the pod's image: `pulling` while the kubelet keeps trying, `refused` for good. */
export function imageFailure(pod: ObservedPod): 'pulling' | 'refused' | undefined {
  if (!pod.waitingReason) return undefined;
  if (IMAGE_PULL_REASONS.has(pod.waitingReason)) return 'pulling';
  if (IMAGE_REFUSED_REASONS.has(pod.waitingReason)) return 'refused';
  return undefined;
}
