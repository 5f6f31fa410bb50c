import type { Environment } from '../../../lib/job/environments.ts';
import { initialStatus, type JobStatus } from '../../../lib/job/status.ts';
import type { JobSecretData, Workflow } from '../../../lib/job/workflow.ts';

export const JOB_ID = '0123456789abcdef0123456789abcdef';
export const OWNER = '0x' + 'ab'.repeat(20);
export const DATASET_DID = 'did:op:' + '1'.repeat(64);
export const DATASET2_DID = 'did:op:' + '2'.repeat(64);
export const ALGO_DID = 'did:op:' + '3'.repeat(64);
export const TX = '0x' + 'cd'.repeat(32);
export const CREATED = '2025-01-01T00:00:00.000Z';

export function workflow(overrides: Partial<Workflow> = {}): Workflow {
  return {
    version: 1,
    jobId: JOB_ID,
    owner: OWNER,
    environment: 'ocean-compute',
    agreementId: TX,
    dateCreated: CREATED,
    datasets: [
      { did: DATASET_DID, serviceId: 'compute', transferTxId: TX, files: [{ index: 0 }, { index: 1, contentLength: 3, checksum: 'a'.repeat(64) }] },
      { did: DATASET2_DID, serviceId: 'compute', transferTxId: TX, files: [{ index: 0 }] },
    ],
    algorithm: {
      kind: 'published',
      did: ALGO_DID,
      serviceId: 'access',
      transferTxId: TX,
      container: { image: 'node', tag: '20', entrypoint: 'node $ALGO' },
      files: [{ index: 0, checksum: 'b'.repeat(64) }],
    },
    allowNetworkAccess: false,
    limits: { maxDurationSeconds: 60, cpu: 0.5, memoryMiB: 256, diskMiB: 1024 },
    algoCustomData: { epochs: 3 },
    ...overrides,
  };
}

export function secretData(): JobSecretData {
  return {
    version: 1,
    datasets: {
      [DATASET_DID]: [
        { url: 'https://data.example/a.csv?token=s3cret', method: 'GET', headers: {} },
        { url: 'https://data.example/b.csv', method: 'GET', headers: { Authorization: 'Bearer x' } },
      ],
      [DATASET2_DID]: [{ url: 'https://data.example/c.csv', method: 'GET', headers: {} }],
    },
    algorithm: { kind: 'published', file: { url: 'https://algo.example/algo.js', method: 'GET', headers: {} } },
    ddos: { [DATASET_DID]: { id: DATASET_DID } },
  };
}

export function environment(overrides: Partial<Environment> = {}): Environment {
  return {
    id: 'ocean-compute',
    description: 'test',
    cpu: 0.5,
    memoryMiB: 256,
    diskMiB: 1024,
    maxJobDurationSeconds: 60,
    maxConcurrentJobs: 2,
    storageExpirySeconds: 3600,
    consumerAddress: OWNER,
    fees: [],
    allowNetworkAccess: true,
    ...overrides,
  };
}

export function status(code: JobStatus['code'], at: Date, overrides: Partial<JobStatus> = {}): JobStatus {
  return { ...initialStatus(new Date(CREATED)), code, updatedAt: at.toISOString(), ...overrides };
}
