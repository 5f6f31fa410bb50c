import { resultObjectKey } from '../../lib/job/results-store.ts';
import { resultsSchema, type Result, type ResultType } from '../../lib/job/status.ts';
import { LOG_FILES, RESULTS_MARKER } from './layout.ts';
import type { WalkedFile } from './walk.ts';

/**
 * The list of results a job publishes, and how the publish program reports it: as the last line of its stdout,
 * `C2D_RESULTS <json>`, which the engine reads from the pod's log once the pod has succeeded.
 */

export interface PlannedUpload {
  file: WalkedFile;
  result: Result;
}

function logType(relative: string): ResultType {
  return relative === LOG_FILES.configure ? 'configurationLog' : 'algorithmLog';
}

/**
 * Orders the uploads as a client reads them: the configuration log, the algorithm's logs, then the outputs. The
 * publish log comes last (see `publishLogResult`). Indexes run from 0 in that order.
 */
export function planUploads(jobId: string, logs: WalkedFile[], outputs: WalkedFile[]): PlannedUpload[] {
  const ownLogs = logs.filter((f) => f.relative !== LOG_FILES.publish);
  const ordered: Array<[WalkedFile, ResultType]> = [
    ...ownLogs.filter((f) => logType(f.relative) === 'configurationLog').map((f) => [f, 'configurationLog'] as [WalkedFile, ResultType]),
    ...ownLogs.filter((f) => logType(f.relative) === 'algorithmLog').map((f) => [f, 'algorithmLog'] as [WalkedFile, ResultType]),
    ...outputs.map((f) => [f, 'output'] as [WalkedFile, ResultType]),
  ];
  return ordered.map(([file, type], index) => ({
    file,
    result: { index, filename: file.relative, filesize: file.size, type, key: resultObjectKey(jobId, type, file.relative) },
  }));
}

export function publishLogResult(jobId: string, index: number, filesize: number): Result {
  return { index, filename: LOG_FILES.publish, filesize, type: 'publishLog', key: resultObjectKey(jobId, 'publishLog', LOG_FILES.publish) };
}

export function formatResultsLine(results: Result[]): string {
  return `${RESULTS_MARKER}${JSON.stringify(results)}`;
}

/** The results a publish pod reported in its log, or why they cannot be read. */
export function parseResultsFromLog(log: string): Result[] | { error: string } {
  const lines = log.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.replace(/\r$/, '');
    if (!line.startsWith(RESULTS_MARKER)) continue;
    try {
      return resultsSchema.parse(JSON.parse(line.slice(RESULTS_MARKER.length)));
    } catch {
      return { error: 'the results line is malformed' };
    }
  }
  return { error: 'no results line in the publish log' };
}
