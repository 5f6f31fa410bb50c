import { createHash, randomBytes } from 'node:crypto';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { STOP_ANNOTATION, buildJobConfigMap } from '../../lib/job/configmap.ts';
import { ENVIRONMENTS_CONFIGMAP, environmentsToConfigMapData, type Environment } from '../../lib/job/environments.ts';
import { newJobId } from '../../lib/job/names.ts';
import { initialStatus, type JobStatus } from '../../lib/job/status.ts';
import type { FileAccess, JobSecretData, Workflow } from '../../lib/job/workflow.ts';
import { SETTLEMENT_KEY, withPayment, type JobPayment, type SettlementOutcome } from '../../lib/payment/record.ts';

/**
 * The one place tests, benchmarks and integration tests get jobs from: a fixed workflow, Secret, environment and
 * status for pure tests (overrides for what a test is about), and `buildJob` for jobs with fresh ids run on the
 * platform (test/support/engine-jobs.ts creates them in the cluster).
 */

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
      {
        did: DATASET_DID,
        serviceId: 'compute',
        transferTxId: TX,
        files: [{ index: 0 }, { index: 1, contentLength: 3, checksum: 'a'.repeat(64) }],
      },
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
    workflow({
      jobId: nthJobId(n),
      dateCreated: created.toISOString(),
      environment: over.environment ?? 'ocean-compute',
    }),
    status(code, created),
    over.namespace,
  );
  if (over.stopRequested) cm.metadata!.annotations = { [STOP_ANNOTATION]: created.toISOString() };
  if (over.resourceVersion !== undefined) cm.metadata!.resourceVersion = over.resourceVersion;
  return cm;
}

/** A paid job's escrow lock as `start` records it (payment.json). */
export function paymentRecord(overrides: Partial<JobPayment> = {}): JobPayment {
  return {
    version: 1,
    chainId: 8996,
    escrow: '0x' + 'e5'.repeat(20),
    token: '0x' + 'a0'.repeat(20),
    payer: OWNER,
    payee: '0x' + 'be'.repeat(20),
    lockId: '777',
    amount: '2000000000000000000',
    lockSeconds: 4200,
    lockTx: '0x' + 'aa'.repeat(32),
    lockBlock: 5,
    decimals: 18,
    prices: [{ id: 'cpu', price: 1 }],
    resources: [{ id: 'cpu', amount: 1 }],
    minJobDurationSeconds: 0,
    maxJobDurationSeconds: 120,
    ...overrides,
  };
}

/**
 * `cm` as a paid job's: its payment record and, when given, how its lock ended (settlement.json with that outcome).
 */
export function paidJobConfigMap(cm: V1ConfigMap, outcome?: SettlementOutcome['kind']): V1ConfigMap {
  const paid = withPayment(cm, paymentRecord());
  if (outcome === undefined) return paid;
  const settlement = { version: 1, outcome: { kind: outcome, amount: '0', at: CREATED } };
  return { ...paid, data: { ...paid.data, [SETTLEMENT_KEY]: JSON.stringify(settlement) } };
}

/** The environments ConfigMap listing `envs`. */
export function environmentsConfigMap(namespace: string, ...envs: Environment[]): V1ConfigMap {
  return { metadata: { name: ENVIRONMENTS_CONFIGMAP, namespace }, data: environmentsToConfigMapData(envs) };
}

// ---- jobs with fresh ids, for the platform ----

export const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const hex = (bytes: number): string => randomBytes(bytes).toString('hex');
export const randomDid = (): string => `did:op:${hex(32)}`;
export const randomOwner = (): string => `0x${hex(20)}`;

export interface DatasetSpec {
  files: Array<{ url: string; checksum?: string; contentLength?: number; headers?: Record<string, string> }>;
}

export type AlgorithmSpec =
  | { kind: 'raw'; code: string; image: string; tag: string; entrypoint: string }
  | { kind: 'published'; url: string; checksum: string; image: string; tag: string; entrypoint: string };

export interface JobSpec {
  environment: string;
  datasets: DatasetSpec[];
  algorithm: AlgorithmSpec;
  owner?: string;
  allowNetworkAccess?: boolean;
  maxDurationSeconds?: number;
  algoCustomData?: Record<string, unknown>;
}

export interface BuiltJob {
  workflow: Workflow;
  secret: JobSecretData;
}

/** A node:24 algorithm given as raw code. */
export const nodeAlgorithm = (code: string): AlgorithmSpec => ({
  kind: 'raw',
  code,
  image: 'node',
  tag: '24',
  entrypoint: 'node $ALGO',
});
/** A python:3 algorithm given as raw code. */
export const pythonAlgorithm = (code: string): AlgorithmSpec => ({
  kind: 'raw',
  code,
  image: 'python',
  tag: '3',
  entrypoint: 'python $ALGO',
});
/** A POSIX shell algorithm given as raw code, in the node's Debian image. */
export const shellAlgorithm = (code: string): AlgorithmSpec => ({
  kind: 'raw',
  code,
  image: 'debian',
  tag: 'bookworm',
  entrypoint: 'sh $ALGO',
});

/** A job as `functions/start` would make it from `spec`: fresh job id, DIDs and transactions. */
export function buildJob(spec: JobSpec): BuiltJob {
  const tx = `0x${hex(32)}`;
  const datasets = spec.datasets.map((d) => ({ did: randomDid(), spec: d }));
  const access = (f: { url: string; headers?: Record<string, string> }): FileAccess => ({
    url: f.url,
    method: 'GET',
    headers: f.headers ?? {},
  });
  const algo = spec.algorithm;
  const container = { image: algo.image, tag: algo.tag, entrypoint: algo.entrypoint };
  const { algoCustomData: _, ...base } = workflow();
  const built: Workflow = {
    ...base,
    jobId: newJobId(),
    owner: spec.owner ?? randomOwner(),
    environment: spec.environment,
    agreementId: tx,
    dateCreated: new Date().toISOString(),
    datasets: datasets.map(({ did, spec: d }) => ({
      did,
      serviceId: 'compute',
      transferTxId: tx,
      files: d.files.map((f, index) => ({
        index,
        ...(f.checksum !== undefined ? { checksum: f.checksum } : {}),
        ...(f.contentLength !== undefined ? { contentLength: f.contentLength } : {}),
      })),
    })),
    algorithm:
      algo.kind === 'raw'
        ? { kind: 'raw', container, source: 'rawcode' }
        : {
            kind: 'published',
            did: randomDid(),
            serviceId: 'access',
            transferTxId: `0x${hex(32)}`,
            container,
            files: [{ index: 0, checksum: algo.checksum }],
          },
    allowNetworkAccess: spec.allowNetworkAccess ?? false,
    limits: { maxDurationSeconds: spec.maxDurationSeconds ?? 120, cpu: 0.5, memoryMiB: 256, diskMiB: 64 },
    ...(spec.algoCustomData ? { algoCustomData: spec.algoCustomData } : {}),
  };
  const secret: JobSecretData = {
    version: 1,
    datasets: Object.fromEntries(datasets.map(({ did, spec: d }) => [did, d.files.map(access)])),
    algorithm:
      algo.kind === 'raw'
        ? { kind: 'rawcode', rawcode: algo.code }
        : { kind: 'published', file: access({ url: algo.url }) },
    ddos: Object.fromEntries(datasets.map(({ did }) => [did, { id: did, version: '4.1.0' }])),
  };
  return { workflow: built, secret };
}
