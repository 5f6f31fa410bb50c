import { z } from 'zod';
import { JOB_ID_PATTERN, assertJobId } from './names.ts';
import { resultsSchema, type Result } from './status.ts';

/**
 * The full list of a job's results, kept in the results store beside them (`<jobId>/manifest.json`, outside the
 * outputs/ and logs/ folders so no result can take its name). The publish program writes it last, so its presence
 * means every result it lists was stored. The job's status holds only a bounded summary (`summarizeResults`): a
 * ConfigMap holds at most 1 MiB, and 2,500 long output names already outgrew it.
 *
 * No AWS SDK here: the functions import this module and load the SDK only when they first read the store.
 */

const MANIFEST_VERSION = 1;

/** At most this many outputs (besides the logs a client looks for) are listed in a job's status. */
export const RESULTS_SUMMARY_MAX = 100;

/** A manifest larger than this is not read (5,000 results of 512-byte names take about 6 MiB). */
export const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

const resultsManifestSchema = z.strictObject({
  version: z.literal(MANIFEST_VERSION),
  jobId: z.string().regex(JOB_ID_PATTERN),
  results: resultsSchema,
});
type ResultsManifest = z.infer<typeof resultsManifestSchema>;

/** The folder of everything a job stored. */
export function jobResultsPrefix(jobId: string): string {
  return `${assertJobId(jobId)}/`;
}

export function resultsManifestKey(jobId: string): string {
  return `${jobResultsPrefix(jobId)}manifest.json`;
}

/** Where a result of a job may be stored: under the job's outputs/ or logs/ folder, nowhere else. */
function keyBelongsTo(jobId: string, result: Result): boolean {
  return result.key === `${jobId}/${result.type === 'output' ? 'outputs' : 'logs'}/${result.filename}`;
}

/** The results a stored manifest lists, or why it cannot be used for this job. */
export function parseResultsManifest(jobId: string, text: string): Result[] | { error: string } {
  let manifest: ResultsManifest;
  try {
    manifest = resultsManifestSchema.parse(JSON.parse(text));
  } catch {
    return { error: 'the results manifest is malformed' };
  }
  if (manifest.jobId !== jobId) return { error: 'the results manifest belongs to another job' };
  if (!manifest.results.every((r, i) => r.index === i && keyBelongsTo(jobId, r))) {
    return { error: 'the results manifest lists results out of order or outside the job' };
  }
  return manifest.results;
}

export function serializeResultsManifest(jobId: string, results: Result[]): string {
  return JSON.stringify(resultsManifestSchema.parse({ version: MANIFEST_VERSION, jobId, results }));
}

/** The logs a client asks for by stage (functions/logs), kept in the summary whatever else the job wrote. */
function isStageLog(r: Result): boolean {
  return (
    r.type === 'configurationLog' ||
    r.type === 'publishLog' ||
    (r.type === 'algorithmLog' && r.filename === 'algorithm.log')
  );
}

/**
 * The results a job's status lists: the stage logs and the first `max` other results, in index order. Whatever is
 * left out is still served by index, from the manifest.
 */
export function summarizeResults(results: readonly Result[], max = RESULTS_SUMMARY_MAX): Result[] {
  let others = 0;
  return results.filter((r) => isStageLog(r) || others++ < max);
}
