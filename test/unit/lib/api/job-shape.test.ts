import { describe, expect, it } from 'vitest';
import { toOceanJob } from '../../../../lib/api/job-shape.ts';
import { buildJobConfigMap, readJobConfigMap, STOP_ANNOTATION } from '../../../../lib/job/configmap.ts';
import { initialStatus, type JobStatus } from '../../../../lib/job/status.ts';
import { workflow as fixtureWorkflow } from '../../../support/job-fixtures.ts';

const OWNER = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8';
const DID_A = 'did:op:' + 'a1'.repeat(32);
const DID_B = 'did:op:' + 'b2'.repeat(32);
const ALGO = 'did:op:' + 'c3'.repeat(32);
const TX = '0x' + 'd4'.repeat(32);

const workflow = fixtureWorkflow({
  owner: OWNER,
  environment: 'default',
  agreementId: TX,
  dateCreated: '2024-05-01T10:00:00.500Z',
  datasets: [
    { did: DID_A, serviceId: 's', transferTxId: TX, files: [{ index: 0 }] },
    { did: DID_B, serviceId: 's', transferTxId: TX, files: [{ index: 0 }, { index: 1 }] },
  ],
  algorithm: {
    kind: 'published',
    did: ALGO,
    serviceId: 'a',
    transferTxId: TX,
    container: { image: 'node', tag: '20', entrypoint: 'node $ALGO' },
    files: [{ index: 0, checksum: 'a'.repeat(64) }],
  },
  allowNetworkAccess: false,
  limits: { maxDurationSeconds: 600, cpu: 1, memoryMiB: 512, diskMiB: 1024 },
});

function job(status: JobStatus, annotations?: Record<string, string>) {
  const cm = buildJobConfigMap(workflow, status, 'jobs');
  if (annotations) cm.metadata = { ...cm.metadata, annotations };
  return readJobConfigMap(cm);
}

describe("job ConfigMap → Ocean's ComputeJob", () => {
  it('maps a new job: status 1, checksummed owner, inputs, algorithm, unix-seconds dates', () => {
    const shaped = toOceanJob(job(initialStatus(new Date('2024-05-01T10:00:01Z'))));
    expect(shaped).toMatchObject({
      owner: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
      did: DID_A,
      jobId: workflow.jobId,
      dateCreated: '1714557600.5',
      dateFinished: null,
      status: 1,
      statusText: 'Warming up',
      results: [],
      inputDID: [DID_A, DID_B],
      algoDID: ALGO,
      agreementId: TX,
      expireTimestamp: 1714557600 + 600,
      environment: 'default',
      stopRequested: false,
    });
    expect(shaped.termination).toBeUndefined();
  });

  it('maps a finished job with results (Ocean spells configrationLog) and termination', () => {
    const finished: JobStatus = {
      ...initialStatus(new Date('2024-05-01T10:00:01Z')),
      code: 70,
      text: 'Job finished',
      dateFinished: '2024-05-01T10:05:00Z',
      expiresAt: '2024-05-02T10:05:00Z',
      results: [
        { index: 0, filename: 'out/result.csv', filesize: 12, type: 'output', key: 'jobs/x/outputs/out/result.csv' },
        {
          index: 1,
          filename: 'configure.log',
          filesize: 3,
          type: 'configurationLog',
          key: 'jobs/x/logs/configure.log',
        },
        { index: 2, filename: 'algorithm.log', filesize: 4, type: 'algorithmLog', key: 'jobs/x/logs/algorithm.log' },
      ],
      termination: { reason: 'finished', stage: 'publish', exitCode: 0 },
    };
    const shaped = toOceanJob(job(finished));
    expect(shaped.status).toBe(70);
    expect(shaped.dateFinished).toBe('1714557900');
    expect(shaped.expireTimestamp).toBe(1714644300);
    expect(shaped.results).toEqual([
      { index: 0, filename: 'out/result.csv', filesize: 12, type: 'output' },
      { index: 1, filename: 'configure.log', filesize: 3, type: 'configrationLog' },
      { index: 2, filename: 'algorithm.log', filesize: 4, type: 'algorithmLog' },
    ]);
    expect(JSON.stringify(shaped)).not.toContain('jobs/x/');
    expect(shaped.termination).toEqual({ reason: 'finished', stage: 'publish', exitCode: 0 });
  });

  it('shows the stop mark before the engine has acted on it, and no algorithm DID for raw code', () => {
    const raw = {
      ...workflow,
      algorithm: { kind: 'raw' as const, container: workflow.algorithm.container, source: 'rawcode' as const },
    };
    const cm = buildJobConfigMap(raw, initialStatus(new Date()), 'jobs');
    cm.metadata = { ...cm.metadata, annotations: { [STOP_ANNOTATION]: new Date().toISOString() } };
    const shaped = toOceanJob(readJobConfigMap(cm));
    expect(shaped.stopRequested).toBe(true);
    expect(shaped.algoDID).toBeUndefined();
  });
});
