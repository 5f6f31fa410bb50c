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
    ).toEqual({ phase: 'Failed', deleting: false, exitCode: 3, reason: 'Error' });
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
    ).toEqual({ phase: 'Failed', deleting: false, exitCode: 137, reason: 'DeadlineExceeded', message: 'too long' });
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
