import type { JobConfigMap } from '../job/configmap.ts';
import { MAX_MANIFEST_BYTES, parseResultsManifest, resultsManifestKey } from '../job/results-manifest.ts';
import type { Result } from '../job/status.ts';
import { readObjectText, type ObjectStore } from './objects.ts';

/**
 * A result by index: from the status's summary, or, for an index the summary leaves out (but within the count the
 * status records), from the job's results manifest in the store.
 */
export async function findResult(objects: ObjectStore, job: JobConfigMap, index: number): Promise<Result | undefined> {
  const listed = job.status.results.find((r) => r.index === index);
  if (listed || index >= (job.status.resultsTotal ?? 0)) return listed;
  const text = await readObjectText(objects, resultsManifestKey(job.workflow.jobId), MAX_MANIFEST_BYTES);
  if (text === undefined) return undefined;
  const all = parseResultsManifest(job.workflow.jobId, text);
  if (!Array.isArray(all)) throw new Error(all.error);
  return all[index];
}
