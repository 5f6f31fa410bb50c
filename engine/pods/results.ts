import { resultObjectKey } from '../../lib/job/results-store.ts';
import type { Result, ResultType } from '../../lib/job/status.ts';
import { LOG_FILES } from './layout.ts';
import type { WalkedFile } from './walk.ts';

/**
 * The list of results a job publishes, in the order a client reads them. The publish program stores it as the job's
 * results manifest (lib/job/results-manifest.ts), which the engine reads once the pod has ended.
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
    ...ownLogs
      .filter((f) => logType(f.relative) === 'configurationLog')
      .map((f) => [f, 'configurationLog'] as [WalkedFile, ResultType]),
    ...ownLogs
      .filter((f) => logType(f.relative) === 'algorithmLog')
      .map((f) => [f, 'algorithmLog'] as [WalkedFile, ResultType]),
    ...outputs.map((f) => [f, 'output'] as [WalkedFile, ResultType]),
  ];
  return ordered.map(([file, type], index) => ({
    file,
    result: {
      index,
      filename: file.relative,
      filesize: file.size,
      type,
      key: resultObjectKey(jobId, type, file.relative),
    },
  }));
}

export function publishLogResult(jobId: string, index: number, filesize: number): Result {
  return {
    index,
    filename: LOG_FILES.publish,
    filesize,
    type: 'publishLog',
    key: resultObjectKey(jobId, 'publishLog', LOG_FILES.publish),
  };
}
