import type { V1ConfigMap, V1OwnerReference } from '@kubernetes/client-node';
import { InvalidPaymentRecord, readPayment, readSettlement } from '../payment/record.ts';
import { isSettling } from '../payment/settlement-plan.ts';
import { LABEL_PREFIX, jobLabels, jobNames } from './names.ts';
import { isFinal, parseStatusJson, serializeStatus, type JobStatus } from './status.ts';
import { parseWorkflow, type Workflow } from './workflow.ts';

/**
 * A job is its ConfigMap: `workflow.json` (immutable, written once by `start`), `status.json` (written only by the
 * engine) and, when the owner asked to stop it, the stop annotation (written by `stop`).
 */

export const WORKFLOW_KEY = 'workflow.json';
export const STATUS_KEY = 'status.json';
export const STOP_ANNOTATION = `${LABEL_PREFIX}/stop-requested`;

export class InvalidJobConfigMap extends Error {}

export interface JobConfigMap {
  name: string;
  namespace: string | undefined;
  uid: string | undefined;
  resourceVersion: string | undefined;
  workflow: Workflow;
  status: JobStatus;
  /** When the stop mark was set, or undefined when nobody asked to stop the job. */
  stopRequestedAt: string | undefined;
  /**
   * A paid job that is final while how its escrow lock ended is not yet recorded (ocean-node's 71, "settling"):
   * the engine is claiming or releasing the lock, and the job must stay until it has.
   */
  settling?: boolean;
}

/**
 * Whether the job is settling. A payment record that does not parse counts as settling: nothing can tell that its
 * lock was settled, and the engine's settler reports the record.
 */
function settlingOf(cm: V1ConfigMap, status: JobStatus): boolean {
  if (!isFinal(status.code)) return false;
  try {
    return isSettling(true, readPayment(cm), readSettlement(cm));
  } catch (err) {
    if (err instanceof InvalidPaymentRecord) return true;
    throw err;
  }
}

/**
 * The ConfigMap `start` creates for a new job. `workflow` is the value parseWorkflow returned: it is written as it
 * is, not parsed again.
 */
export function buildJobConfigMap(workflow: Workflow, status: JobStatus, namespace?: string): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: jobNames(workflow.jobId).configMap,
      ...(namespace ? { namespace } : {}),
      labels: jobLabels(
        { jobId: workflow.jobId, owner: workflow.owner, environment: workflow.environment },
        'workflow',
      ),
    },
    data: { [WORKFLOW_KEY]: JSON.stringify(workflow), [STATUS_KEY]: serializeStatus(status) },
  };
}

/** The job just created from `workflow` and `status`: the API server's copy of what was sent needs no parsing. */
export function createdJob(cm: V1ConfigMap, workflow: Workflow, status: JobStatus): JobConfigMap {
  return {
    name: jobNames(workflow.jobId).configMap,
    namespace: cm.metadata?.namespace,
    uid: cm.metadata?.uid,
    resourceVersion: cm.metadata?.resourceVersion,
    workflow,
    status,
    stopRequestedAt: undefined,
  };
}

/** Reads a job ConfigMap; throws InvalidJobConfigMap when its content is not a valid job. */
export function readJobConfigMap(cm: V1ConfigMap): JobConfigMap {
  const name = cm.metadata?.name;
  if (!name) throw new InvalidJobConfigMap('ConfigMap has no name');
  const workflowJson = cm.data?.[WORKFLOW_KEY];
  const statusJson = cm.data?.[STATUS_KEY];
  if (workflowJson === undefined || statusJson === undefined) {
    throw new InvalidJobConfigMap(`${name}: missing ${workflowJson === undefined ? WORKFLOW_KEY : STATUS_KEY}`);
  }
  let workflow: Workflow;
  let status: JobStatus;
  try {
    workflow = parseWorkflow(JSON.parse(workflowJson));
    status = parseStatusJson(statusJson);
  } catch (err) {
    throw new InvalidJobConfigMap(`${name}: ${(err as Error).message}`);
  }
  if (jobNames(workflow.jobId).configMap !== name) {
    throw new InvalidJobConfigMap(`${name}: workflow job id ${workflow.jobId} does not match the name`);
  }
  return {
    name,
    namespace: cm.metadata?.namespace,
    uid: cm.metadata?.uid,
    resourceVersion: cm.metadata?.resourceVersion,
    workflow,
    status,
    stopRequestedAt: cm.metadata?.annotations?.[STOP_ANNOTATION],
    settling: settlingOf(cm, status),
  };
}

/**
 * A JSON merge patch that sets the status, guarded by the resourceVersion it was computed from: the API server
 * answers 409 when the ConfigMap changed in between, and the engine re-reads.
 */
export function statusPatch(status: JobStatus, resourceVersion: string | undefined): object {
  return {
    metadata: resourceVersion ? { resourceVersion } : {},
    data: { [STATUS_KEY]: serializeStatus(status) },
  };
}

/**
 * A JSON merge patch that marks the job for stopping, guarded (when given) by the resourceVersion the caller saw;
 * applying it again changes nothing the engine acts on.
 */
export function stopRequestPatch(now: Date, resourceVersion?: string): object {
  return {
    metadata: {
      ...(resourceVersion !== undefined && { resourceVersion }),
      annotations: { [STOP_ANNOTATION]: now.toISOString() },
    },
  };
}

/** The reference that makes a job object belong to (and be garbage-collected with) the job's ConfigMap. */
export function ownerReferenceTo(cm: Pick<JobConfigMap, 'name' | 'uid'>): V1OwnerReference {
  if (!cm.uid) throw new InvalidJobConfigMap(`${cm.name}: no uid to own objects by`);
  return { apiVersion: 'v1', kind: 'ConfigMap', name: cm.name, uid: cm.uid, controller: true };
}
