import type { V1Pod } from '@kubernetes/client-node';
import type { ObservedPod, PodPhase } from './planner.ts';

/** What the planner needs to know of a pod, read from its status. */
export function observePod(pod: V1Pod): ObservedPod {
  const status = pod.status ?? {};
  const phases: readonly string[] = ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'];
  const phase = (phases.includes(status.phase ?? '') ? status.phase : 'Pending') as PodPhase;
  const container = status.containerStatuses?.[0];
  const terminated = container?.state?.terminated;
  const waiting = container?.state?.waiting;
  const observed: ObservedPod = { phase, deleting: Boolean(pod.metadata?.deletionTimestamp) };
  if (pod.metadata?.uid) observed.uid = pod.metadata.uid;
  if (terminated) observed.exitCode = terminated.exitCode;
  // The pod's own reason (DeadlineExceeded, Evicted) says more than the container's (Error, Killed).
  const reason = status.reason ?? terminated?.reason;
  if (reason) observed.reason = reason;
  if (terminated?.reason) observed.containerReason = terminated.reason;
  const message = status.message ?? terminated?.message;
  if (message) observed.message = message;
  if (waiting?.reason && waiting.reason !== 'ContainerCreating' && waiting.reason !== 'PodInitializing') {
    observed.waitingReason = waiting.reason;
    if (waiting.message && !observed.message) observed.message = waiting.message;
  }
  const target = status.conditions?.find((c) => c.type === 'DisruptionTarget' && c.status === 'True');
  if (target) {
    observed.disruptionTarget = target.reason ?? 'DisruptionTarget';
    if (target.message && !observed.message) observed.message = target.message;
  }
  return observed;
}
