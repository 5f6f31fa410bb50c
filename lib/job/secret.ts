import type { V1Secret } from '@kubernetes/client-node';
import { jobLabels, jobNames } from './names.ts';
import { parseJobSecretData, type JobSecretData, type Workflow } from './workflow.ts';
import { ownerReferenceTo, type JobConfigMap } from './configmap.ts';

/** The per-job Secret holding what only the configure pod may read, as one JSON document under `SECRET_KEY`. */

export const SECRET_KEY = 'job.json';

export function buildJobSecret(
  workflow: Workflow,
  data: JobSecretData,
  owner: Pick<JobConfigMap, 'name' | 'uid'>,
  namespace?: string,
): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    immutable: true,
    metadata: {
      name: jobNames(workflow.jobId).secret,
      ...(namespace ? { namespace } : {}),
      labels: jobLabels({ jobId: workflow.jobId, owner: workflow.owner, environment: workflow.environment }, 'secret'),
      ownerReferences: [ownerReferenceTo(owner)],
    },
    stringData: { [SECRET_KEY]: JSON.stringify(parseJobSecretData(data)) },
  };
}

/** Reads the payload from the mounted Secret file's text. */
export function parseJobSecretFile(text: string): JobSecretData {
  return parseJobSecretData(JSON.parse(text));
}

/** The key of a job's output Secret: the hex ciphertext of its v2 `output` (lib/job/output-target.ts). */
export const OUTPUT_SECRET_KEY = 'output.hex';

/**
 * A v2 job's own storage target, still encrypted to the output key: a Secret apart from the job's, because the job's
 * Secret is removed when publishing begins and this one is read by the publish pod (the engine removes it once the
 * job is final). Labelled as the job's Secret is, so the engine's watch of job Secrets sees it too.
 */
export function buildOutputSecret(
  workflow: Workflow,
  ciphertextHex: string,
  owner: Pick<JobConfigMap, 'name' | 'uid'>,
  namespace?: string,
): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    immutable: true,
    metadata: {
      name: jobNames(workflow.jobId).outputSecret,
      ...(namespace ? { namespace } : {}),
      labels: jobLabels({ jobId: workflow.jobId, owner: workflow.owner, environment: workflow.environment }, 'secret'),
      ownerReferences: [ownerReferenceTo(owner)],
    },
    stringData: { [OUTPUT_SECRET_KEY]: ciphertextHex },
  };
}
