import type { FileMeta } from '../../lib/job/workflow.ts';

/** What a download produced, to compare with what the workflow declared. */
export interface Fetched {
  bytes: number;
  sha256: string;
}

/** The problem with a fetched file, or undefined when it matches every declared property. */
export function verifyFetched(
  fetched: Fetched,
  declared: Pick<FileMeta, 'contentLength' | 'checksum'>,
): string | undefined {
  if (declared.contentLength !== undefined && fetched.bytes !== declared.contentLength) {
    return `size ${fetched.bytes} bytes differs from the declared ${declared.contentLength}`;
  }
  if (declared.checksum !== undefined && fetched.sha256 !== declared.checksum.toLowerCase()) {
    return 'sha256 checksum differs from the declared one';
  }
  return undefined;
}

/** The most bytes a download may bring: the cap, the space left, and the declared size when there is one. */
export function byteLimit(cap: number, remaining: number, declared?: number): number {
  return Math.min(cap, remaining, declared ?? Number.POSITIVE_INFINITY);
}
