import type { V1ConfigMap } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { toV2Job, toV2Status } from '../../../../lib/api/job-shape-v2.ts';
import { readJobConfigMap } from '../../../../lib/job/configmap.ts';
import { StatusCode } from '../../../../lib/job/status.ts';
import { SETTLEMENT_KEY } from '../../../../lib/payment/record.ts';
import { jobConfigMap, paidJobConfigMap } from '../../../support/job-fixtures.ts';

describe('v2 job status', () => {
  it.each([
    [StatusCode.WarmingUp, 1, 'Job queued'],
    [StatusCode.JobStarted, 0, 'Job started'],
    [StatusCode.ConfiguringVolumes, 20, 'Configuring volumes'],
    [StatusCode.ProvisioningSuccess, 30, 'Provisioning data'],
    [StatusCode.DataProvisioningFailed, 31, 'Data provisioning failed'],
    [StatusCode.AlgorithmProvisioningFailed, 32, 'Algorithm provisioning failed'],
    [StatusCode.RunningAlgorithm, 40, 'Running algorithm '],
    [StatusCode.AlgorithmFailed, 41, 'Failed to run algorithm'],
    [StatusCode.DiskQuotaExceeded, 42, 'Error: disk quota exceeded'],
    [StatusCode.PublishingResults, 60, 'Publishing results'],
    [StatusCode.ResultsUploadFailed, 62, 'Failed to upload results to storage'],
    [StatusCode.JobFinished, 70, 'Job finished'],
    [StatusCode.JobStopped, 70, 'Job finished'],
    [StatusCode.JobTimedOut, 70, 'Job finished'],
    [StatusCode.InfrastructureFailed, 70, 'Job finished'],
  ])("engine code %i is ocean-node's %i", (code, status, statusText) => {
    expect(toV2Status(code)).toEqual({ status, statusText });
  });

  it('answers 71 only for a paid job still settling, and only where it would answer 70', () => {
    for (const code of Object.values(StatusCode)) {
      expect(toV2Status(code).status).not.toBe(71);
      const settling = toV2Status(code, true);
      expect(settling).toEqual(
        toV2Status(code).status === 70 ? { status: 71, statusText: 'Job settling' } : toV2Status(code),
      );
    }
  });

  it.each([
    ['a free job', (cm: V1ConfigMap) => cm, StatusCode.JobFinished, 70],
    ['a paid job whose lock is not settled yet', (cm: V1ConfigMap) => paidJobConfigMap(cm), StatusCode.JobFinished, 71],
    ['a stopped paid job not settled yet', (cm: V1ConfigMap) => paidJobConfigMap(cm), StatusCode.JobStopped, 71],
    [
      'a paid job whose lock was claimed',
      (cm: V1ConfigMap) => paidJobConfigMap(cm, 'claimed'),
      StatusCode.JobFinished,
      70,
    ],
    [
      'a paid job whose lock was released',
      (cm: V1ConfigMap) => paidJobConfigMap(cm, 'released'),
      StatusCode.JobFinished,
      70,
    ],
    [
      'a paid job that failed, not settled yet',
      (cm: V1ConfigMap) => paidJobConfigMap(cm),
      StatusCode.AlgorithmFailed,
      41,
    ],
    ['a paid job still running', (cm: V1ConfigMap) => paidJobConfigMap(cm), StatusCode.RunningAlgorithm, 40],
  ])('%s is %i', (_, make, code, status) => {
    expect(toV2Job(readJobConfigMap(make(jobConfigMap(1, code)))).status).toBe(status);
  });

  it('counts a payment record that does not parse as settling: nothing says its lock was settled', () => {
    const cm = paidJobConfigMap(jobConfigMap(1, StatusCode.JobFinished), 'claimed');
    cm.data![SETTLEMENT_KEY] = '{"version":1,"outcome":"spoilt"}';
    expect(readJobConfigMap(cm).settling).toBe(true);
    expect(toV2Job(readJobConfigMap(cm))).toMatchObject({ status: 71, statusText: 'Job settling' });
  });

  it('tells how a stopped job ended, and names its viewers and metadata', () => {
    const cm = jobConfigMap(1, StatusCode.JobStopped);
    const job = readJobConfigMap(cm);
    job.workflow.viewers = ['0x' + 'aa'.repeat(20)];
    job.workflow.metadata = { purpose: 'test' };
    job.status.termination = { reason: 'stopped', stage: 'algorithm', exitCode: 143 };
    const v2 = toV2Job(job);
    expect(v2).toMatchObject({
      status: 70,
      statusText: 'Job finished',
      additionalViewers: ['0xaAaAaAaaAaAaAaaAaAAAAAAAAaaaAaAaAaaAaaAa'],
      metadata: { purpose: 'test' },
      isFree: false,
      terminationDetails: { OOMKilled: false, exitCode: 143, reason: 'stopped' },
    });
  });
});
