import type { WalkedFile } from './walk.ts';

/**
 * What publish may upload. The byte limit is the job's disk limit (workflow `limits.diskMiB`, from its
 * environment), counted in apparent sizes (st_size): that is what an upload sends, so a sparse file counts in full.
 * The file count and path length bound the results manifest and every object key (S3 allows 1,024 bytes).
 */
export interface PublishLimits {
  maxBytes: number;
  maxFiles: number;
  maxPathBytes: number;
}

export const PUBLISH_FILE_LIMITS = { maxFiles: 5_000, maxPathBytes: 512 } as const;

export interface UploadSelection {
  logs: WalkedFile[];
  outputs: WalkedFile[];
  /** Why the outputs (and maybe the logs) are not uploaded; absent when everything fits. */
  refusal?: string;
}

const sum = (files: readonly WalkedFile[]): number => files.reduce((n, f) => n + f.size, 0);

/**
 * All or nothing: when logs and outputs together exceed the limit, no output is uploaded (a partial set could
 * mislead), and the logs only if they fit on their own, so the consumer can see why.
 */
export function selectUploads(logs: WalkedFile[], outputs: WalkedFile[], maxBytes: number): UploadSelection {
  const logBytes = sum(logs);
  const total = logBytes + sum(outputs);
  if (total <= maxBytes) return { logs, outputs };
  const keepLogs = logBytes <= maxBytes;
  return {
    logs: keepLogs ? logs : [],
    outputs: [],
    refusal: `outputs and logs total ${total} bytes, over the job's disk limit of ${maxBytes} bytes: no output was uploaded${keepLogs ? '' : ', nor any log'}`,
  };
}
