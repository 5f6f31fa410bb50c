import { randomBytes } from 'node:crypto';

/**
 * Job identity and the Kubernetes names and labels derived from it. Every name and label value built here comes
 * from a value that has passed one of the strict patterns below, so no client string reaches the API unchecked.
 */

/** 32 lower-case hex digits: Ocean's job id shape (a uuid4 without dashes). */
export const JOB_ID_PATTERN = /^[0-9a-f]{32}$/;
/** An Ethereum address, lower-cased: 42 characters, a valid label value. */
export const OWNER_PATTERN = /^0x[0-9a-f]{40}$/;
/** A compute environment id that is also a valid label value and DNS label. */
export const ENVIRONMENT_ID_PATTERN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** The ConfigMap that lists the compute environments (lib/job/environments.ts reads it). */
export const ENVIRONMENTS_CONFIGMAP = 'c2d-environments';

export const LABEL_PREFIX = 'c2d.oceanprotocol.com';
export const LABELS = {
  jobId: `${LABEL_PREFIX}/job-id`,
  owner: `${LABEL_PREFIX}/owner`,
  environment: `${LABEL_PREFIX}/environment`,
  role: `${LABEL_PREFIX}/role`,
  network: `${LABEL_PREFIX}/network`,
  managedBy: 'app.kubernetes.io/managed-by',
} as const;
export const MANAGED_BY = 'c2d-engine';
/** Label value on a pod whose traffic the network policy lets out. */
export const NETWORK_ALLOW = 'allow';

export const STAGES = ['configure', 'algorithm', 'publish'] as const;
export type Stage = (typeof STAGES)[number];
export type JobRole = 'workflow' | 'secret' | 'data' | Stage;

class InvalidNameInput extends Error {}

export function newJobId(): string {
  return randomBytes(16).toString('hex');
}

export function isJobId(value: unknown): value is string {
  return typeof value === 'string' && JOB_ID_PATTERN.test(value);
}

export function assertJobId(value: string): string {
  if (!isJobId(value)) throw new InvalidNameInput(`job id must match ${JOB_ID_PATTERN}`);
  return value;
}

function isOwnerAddress(value: unknown): value is string {
  return typeof value === 'string' && OWNER_PATTERN.test(value);
}

function assertOwner(value: string): string {
  if (!isOwnerAddress(value)) throw new InvalidNameInput(`owner must be a lower-case 0x address`);
  return value;
}

function isEnvironmentId(value: unknown): value is string {
  return typeof value === 'string' && ENVIRONMENT_ID_PATTERN.test(value);
}

function assertEnvironmentId(value: string): string {
  if (!isEnvironmentId(value)) throw new InvalidNameInput(`environment id must match ${ENVIRONMENT_ID_PATTERN}`);
  return value;
}

export interface JobNames {
  configMap: string;
  secret: string;
  /** A v2 job's encrypted output target (lib/job/secret.ts buildOutputSecret), for its publish pod only. */
  outputSecret: string;
  pvc: string;
  pods: Record<Stage, string>;
}

/** The deterministic names of every object of one job: a restarted engine finds (and never duplicates) them. */
export function jobNames(jobId: string): JobNames {
  const base = `c2d-job-${assertJobId(jobId)}`;
  return {
    configMap: base,
    secret: `${base}-secret`,
    outputSecret: `${base}-output`,
    pvc: `${base}-data`,
    pods: { configure: `${base}-configure`, algorithm: `${base}-algorithm`, publish: `${base}-publish` },
  };
}

/** The job id a job object's name encodes, or undefined when the name is not one of ours. */
export function jobIdFromName(name: string): string | undefined {
  const m = /^c2d-job-([0-9a-f]{32})(?:-(?:secret|output|data|configure|algorithm|publish))?$/.exec(name);
  return m?.[1];
}

export interface JobIdentity {
  jobId: string;
  owner: string;
  environment: string;
}

/** Labels every object of a job carries, so jobs can be selected by id, owner and environment. */
export function jobLabels(identity: JobIdentity, role: JobRole): Record<string, string> {
  return {
    [LABELS.managedBy]: MANAGED_BY,
    [LABELS.jobId]: assertJobId(identity.jobId),
    [LABELS.owner]: assertOwner(identity.owner),
    [LABELS.environment]: assertEnvironmentId(identity.environment),
    [LABELS.role]: role,
  };
}

/** Label selector for a role, optionally narrowed to one owner, environment or job. */
export function jobSelector(role: JobRole, narrow: Partial<JobIdentity> = {}): string {
  const parts = [`${LABELS.managedBy}=${MANAGED_BY}`, `${LABELS.role}=${role}`];
  if (narrow.jobId !== undefined) parts.push(`${LABELS.jobId}=${assertJobId(narrow.jobId)}`);
  if (narrow.owner !== undefined) parts.push(`${LABELS.owner}=${assertOwner(narrow.owner)}`);
  if (narrow.environment !== undefined) parts.push(`${LABELS.environment}=${assertEnvironmentId(narrow.environment)}`);
  return parts.join(',');
}

/** Label selector matching every object of any job (all roles). */
export const ALL_JOB_OBJECTS_SELECTOR = `${LABELS.managedBy}=${MANAGED_BY},${LABELS.jobId}`;
