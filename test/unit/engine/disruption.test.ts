import { describe, expect, it } from 'vitest';
import { imageFailure, podDisruption } from '../../../engine/disruption.ts';
import type { ObservedPod } from '../../../engine/planner.ts';

const failed = (extra: Partial<ObservedPod>): ObservedPod => ({ phase: 'Failed', deleting: false, ...extra });

describe('podDisruption: the infrastructure, not the program, ended the pod', () => {
  it.each([
    [
      'a lost container (the node restarted)',
      { exitCode: 137, reason: 'ContainerStatusUnknown', containerReason: 'ContainerStatusUnknown' },
      'ContainerStatusUnknown',
    ],
    ['node-pressure eviction', { reason: 'Evicted', message: 'The node was low on resource: memory.' }, 'Evicted'],
    ['the node lost', { reason: 'NodeLost' }, 'NodeLost'],
    ['preemption', { reason: 'Preempting' }, 'Preempting'],
    ['admission on the node', { reason: 'UnexpectedAdmissionError' }, 'UnexpectedAdmissionError'],
    ['out of a resource at admission', { reason: 'OutOfmemory' }, 'OutOfmemory'],
    [
      'a graceful node shutdown',
      { reason: 'Terminated', message: 'Pod was terminated in response to imminent node shutdown.' },
      'Terminated',
    ],
    [
      'the taint manager',
      { exitCode: 137, reason: 'Error', disruptionTarget: 'DeletionByTaintManager' },
      'DeletionByTaintManager',
    ],
    ['the eviction API', { disruptionTarget: 'EvictionByEvictionAPI' }, 'EvictionByEvictionAPI'],
    ['the scheduler', { disruptionTarget: 'PreemptionByScheduler' }, 'PreemptionByScheduler'],
    ['the kubelet', { disruptionTarget: 'TerminationByKubelet' }, 'TerminationByKubelet'],
    ['a deletion while it ran', { exitCode: 137, reason: 'Error', deleting: true }, 'PodDeleted'],
  ] as const)('%s', (_, pod, reason) => {
    expect(podDisruption(failed(pod))?.reason).toBe(reason);
  });

  it('keeps the message the infrastructure gave', () => {
    expect(podDisruption(failed({ reason: 'NodeLost', message: 'node c2d went away' }))).toEqual({
      reason: 'NodeLost',
      message: 'node c2d went away',
    });
  });

  it.each([
    ['its own exit code', { exitCode: 1, reason: 'Error', containerReason: 'Error' }],
    ['its own memory limit', { exitCode: 137, reason: 'OOMKilled', containerReason: 'OOMKilled' }],
    ['its own deadline', { reason: 'DeadlineExceeded' }],
    ['its own deadline, being deleted', { reason: 'DeadlineExceeded', deleting: true }],
    [
      'its own storage',
      { reason: 'Evicted', message: 'Pod ephemeral local storage usage exceeds the total limit of containers 1Gi.' },
    ],
    ['its own emptyDir', { reason: 'Evicted', message: 'Usage of EmptyDir volume "tmp" exceeds the limit "64Mi".' }],
  ] as const)('not when the pod ended by %s', (_, pod) => {
    expect(podDisruption(failed(pod))).toBeUndefined();
  });

  it('not for a pod that succeeded, even one being deleted, nor one running normally', () => {
    expect(
      podDisruption({ phase: 'Succeeded', deleting: true, disruptionTarget: 'DeletionByTaintManager' }),
    ).toBeUndefined();
    expect(podDisruption({ phase: 'Running', deleting: false })).toBeUndefined();
  });
});

describe('imageFailure', () => {
  it('tells a pull the kubelet keeps trying from an image the node can never use', () => {
    const waiting = (waitingReason: string): ObservedPod => ({ phase: 'Pending', deleting: false, waitingReason });
    expect(imageFailure(waiting('ErrImagePull'))).toBe('pulling');
    expect(imageFailure(waiting('ImagePullBackOff'))).toBe('pulling');
    expect(imageFailure(waiting('InvalidImageName'))).toBe('refused');
    expect(imageFailure(waiting('ErrImageNeverPull'))).toBe('refused');
    expect(imageFailure(waiting('CreateContainerConfigError'))).toBeUndefined();
    expect(imageFailure({ phase: 'Running', deleting: false })).toBeUndefined();
  });
});
