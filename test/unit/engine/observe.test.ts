import { describe, expect, it } from 'vitest';
import { observePod } from '../../../engine/observe.ts';

describe('observePod', () => {
  it('reads phase, deletion, exit code and the most telling reason', () => {
    expect(observePod({ status: { phase: 'Running' } })).toEqual({ phase: 'Running', deleting: false });
    expect(observePod({ metadata: { deletionTimestamp: new Date() }, status: { phase: 'Running' } }).deleting).toBe(
      true,
    );
    expect(
      observePod({
        status: {
          phase: 'Failed',
          containerStatuses: [
            {
              name: 'a',
              image: 'i',
              imageID: '',
              ready: false,
              restartCount: 0,
              state: { terminated: { exitCode: 3, reason: 'Error' } },
            },
          ],
        },
      }),
    ).toEqual({ phase: 'Failed', deleting: false, exitCode: 3, reason: 'Error', containerReason: 'Error' });
    expect(
      observePod({
        status: {
          phase: 'Failed',
          reason: 'DeadlineExceeded',
          message: 'too long',
          containerStatuses: [
            {
              name: 'a',
              image: 'i',
              imageID: '',
              ready: false,
              restartCount: 0,
              state: { terminated: { exitCode: 137, reason: 'Killed' } },
            },
          ],
        },
      }),
    ).toEqual({
      phase: 'Failed',
      deleting: false,
      exitCode: 137,
      reason: 'DeadlineExceeded',
      containerReason: 'Killed',
      message: 'too long',
    });
  });

  it("reads the signs of the infrastructure's hand: its uid, the container's own reason, DisruptionTarget", () => {
    expect(
      observePod({
        metadata: { uid: 'u1' },
        status: {
          phase: 'Failed',
          conditions: [
            { type: 'Ready', status: 'False' },
            {
              type: 'DisruptionTarget',
              status: 'True',
              reason: 'DeletionByTaintManager',
              message: 'Taint manager: deleting due to NoExecute taint',
            },
          ],
          containerStatuses: [
            {
              name: 'a',
              image: 'i',
              imageID: '',
              ready: false,
              restartCount: 0,
              state: {
                terminated: {
                  exitCode: 137,
                  reason: 'ContainerStatusUnknown',
                  message: 'The container could not be located when the pod was terminated',
                },
              },
            },
          ],
        },
      }),
    ).toEqual({
      phase: 'Failed',
      deleting: false,
      uid: 'u1',
      exitCode: 137,
      reason: 'ContainerStatusUnknown',
      containerReason: 'ContainerStatusUnknown',
      message: 'The container could not be located when the pod was terminated',
      disruptionTarget: 'DeletionByTaintManager',
    });
    expect(
      observePod({ status: { phase: 'Running', conditions: [{ type: 'DisruptionTarget', status: 'False' }] } })
        .disruptionTarget,
    ).toBeUndefined();
  });

  it('reports waiting reasons except the ordinary ones, and treats an absent phase as Pending', () => {
    const waiting = (reason: string) =>
      observePod({
        status: {
          containerStatuses: [
            {
              name: 'a',
              image: 'i',
              imageID: '',
              ready: false,
              restartCount: 0,
              state: { waiting: { reason, message: 'm' } },
            },
          ],
        },
      });
    expect(waiting('InvalidImageName')).toEqual({
      phase: 'Pending',
      deleting: false,
      waitingReason: 'InvalidImageName',
      message: 'm',
    });
    expect(waiting('ContainerCreating').waitingReason).toBeUndefined();
  });
});
