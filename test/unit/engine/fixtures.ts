import type { V1ConfigMap } from '@kubernetes/client-node';
import { STOP_ANNOTATION, buildJobConfigMap } from '../../../lib/job/configmap.ts';
import { ENVIRONMENTS_CONFIGMAP, environmentsToConfigMapData, type Environment } from '../../../lib/job/environments.ts';
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

/** The n-th job id (32 hex digits). */
export const nthJobId = (n: number): string => n.toString(16).padStart(32, '0');

/**
 * A job's ConfigMap at status `code`, created `n` seconds after CREATED (so its queue position follows n), as the API
 * server would hold it (with `resourceVersion`, when given).
 */
export function jobConfigMap(
  n: number,
  code: JobStatus['code'],
  over: { environment?: string; stopRequested?: boolean; resourceVersion?: string; namespace?: string } = {},
): V1ConfigMap {
  const created = new Date(Date.parse(CREATED) + n * 1000);
  const cm = buildJobConfigMap(
    workflow({ jobId: nthJobId(n), dateCreated: created.toISOString(), environment: over.environment ?? 'ocean-compute' }),
    status(code, created),
    over.namespace,
  );
  if (over.stopRequested) cm.metadata!.annotations = { [STOP_ANNOTATION]: created.toISOString() };
  if (over.resourceVersion !== undefined) cm.metadata!.resourceVersion = over.resourceVersion;
  return cm;
}

/** The environments ConfigMap listing `envs`. */
export function environmentsConfigMap(namespace: string, ...envs: Environment[]): V1ConfigMap {
  return { metadata: { name: ENVIRONMENTS_CONFIGMAP, namespace }, data: environmentsToConfigMapData(envs) };
}
