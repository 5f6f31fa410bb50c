import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { lostPodStatus } from '../../../devcluster/node/lost-pod.ts';
import { observePod } from '../../../engine/observe.ts';
import { DEFAULT_PLANNER_SETTINGS, plan, type Observed } from '../../../engine/planner.ts';
import { StatusCode } from '../../../lib/job/status.ts';
import { environment, status, workflow } from '../../support/job-fixtures.ts';

const AT = new Date('2025-01-01T00:00:10.000Z');
const terminated = (name: string, exitCode: number, reason: string): V1ContainerStatus => ({
  name,
  image: 'node:24',
  imageID: '',
  ready: false,
  restartCount: 0,
  state: { terminated: { exitCode, reason, finishedAt: new Date('2025-01-01T00:00:05.000Z') } },
});
const running = (name: string): V1ContainerStatus => ({
  name,
  image: 'node:24',
  imageID: '',
  ready: true,
  restartCount: 0,
  state: { running: { startedAt: new Date('2025-01-01T00:00:01.000Z') } },
});

/** A configure pod as the API server held it when the node restarted: still Running, with these containers. */
function runningPod(init: V1ContainerStatus[], main: V1ContainerStatus[]): V1Pod {
  return {
    metadata: { name: 'c2d-configure', namespace: 'jobs', uid: 'u1' },
    spec: {
      restartPolicy: 'Never',
      initContainers: [{ name: 'await-isolation', image: 'node:24' }],
      containers: [{ name: 'configure', image: 'node:24' }],
    },
    status: { phase: 'Running', initContainerStatuses: init, containerStatuses: main },
  };
}

describe('lostPodStatus: a pod the node had started before it restarted', () => {
  it('whose container had ended with 0 (its Succeeded not yet written) has Succeeded, as a kubelet says', () => {
    const pod = runningPod([terminated('await-isolation', 0, 'Completed')], [terminated('configure', 0, 'Completed')]);
    const s = lostPodStatus(pod, AT);
    expect(s.phase).toBe('Succeeded');
    expect(s.containerStatuses![0]!.state!.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
  });

  it('whose container was still running has Failed, its container ContainerStatusUnknown (137)', () => {
    const pod = runningPod([terminated('await-isolation', 0, 'Completed')], [running('configure')]);
    const s = lostPodStatus(pod, AT);
    expect(s.phase).toBe('Failed');
    expect(s.containerStatuses![0]!.state!.terminated).toMatchObject({
      exitCode: 137,
      reason: 'ContainerStatusUnknown',
      finishedAt: AT,
    });
    expect(s.containerStatuses![0]!.ready).toBe(false);
  });

  it('still in its init container has Failed, every container lost', () => {
    const pod = runningPod([running('await-isolation')], []);
    const s = lostPodStatus(pod, AT);
    expect(s.phase).toBe('Failed');
    expect(s.initContainerStatuses![0]!.state!.terminated!.reason).toBe('ContainerStatusUnknown');
    expect(s.containerStatuses!.map((c) => [c.name, c.state!.terminated!.reason])).toEqual([
      ['configure', 'ContainerStatusUnknown'],
    ]);
  });

  it('whose container had ended non-zero has Failed with that exit', () => {
    const s = lostPodStatus(runningPod([], [terminated('configure', 2, 'Error')]), AT);
    expect(s.phase).toBe('Failed');
    expect(s.containerStatuses![0]!.state!.terminated).toMatchObject({ exitCode: 2, reason: 'Error' });
  });

  it('leaves the pod it was given as it was', () => {
    const pod = runningPod([], [running('configure')]);
    const before = structuredClone(pod);
    lostPodStatus(pod, AT);
    expect(pod).toEqual(before);
  });

  // The chaos run's failure: a success job published right after configure, with no algorithm run, because the
  // node reported its completed configure pod Failed (exit 0, Completed) and the engine read a configure failure.
  it('a configure that had ended with 0 moves the job on to the algorithm, not to publishing', () => {
    const pod = runningPod([terminated('await-isolation', 0, 'Completed')], [terminated('configure', 0, 'Completed')]);
    const observed: Observed = {
      workflow: workflow(),
      status: status(StatusCode.ConfiguringVolumes, AT, { stages: { configure: { startedAt: AT.toISOString() } } }),
      stopRequested: false,
      pods: { configure: observePod({ ...pod, status: lostPodStatus(pod, AT) }) },
      pvcExists: true,
      secretExists: true,
      now: AT,
      environment: environment(),
      capacity: { active: 0, ahead: 0 },
      settings: DEFAULT_PLANNER_SETTINGS,
    };
    const actions = plan(observed);
    expect(actions.map((a) => a.kind)).toEqual(['createPod', 'recordStatus']);
    expect(actions[0]).toEqual({ kind: 'createPod', stage: 'algorithm' });
    const record = actions[1]!;
    expect(record.kind === 'recordStatus' && record.status.code).toBe(StatusCode.RunningAlgorithm);
  });
});
