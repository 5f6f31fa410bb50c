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
  const stringData = { [SECRET_KEY]: JSON.stringify(parseJobSecretData(data)) };
  return jobOwnedSecret(workflow, jobNames(workflow.jobId).secret, stringData, owner, namespace);
}

/** An immutable Secret of the job, labelled as the job's Secret and owned by its ConfigMap. */
function jobOwnedSecret(
  workflow: Workflow,
  name: string,
  stringData: Record<string, string>,
  owner: Pick<JobConfigMap, 'name' | 'uid'>,
  namespace: string | undefined,
): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    immutable: true,
    metadata: {
      name,
      ...(namespace ? { namespace } : {}),
      labels: jobLabels({ jobId: workflow.jobId, owner: workflow.owner, environment: workflow.environment }, 'secret'),
      ownerReferences: [ownerReferenceTo(owner)],
    },
    stringData,
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
  const stringData = { [OUTPUT_SECRET_KEY]: ciphertextHex };
  return jobOwnedSecret(workflow, jobNames(workflow.jobId).outputSecret, stringData, owner, namespace);
}
