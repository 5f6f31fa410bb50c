import { createHash } from 'node:crypto';
import { AccessDenied, deny } from './errors.ts';
import type { FileAccess } from './service-files.ts';

/**
 * The two checksums a dataset publisher pins in `publisherTrustedAlgorithms`, computed as Ocean's provider computes
 * them (ocean_provider/validation/algo.py get_algo_checksums):
 * - containerSectionChecksum = sha256_hex(container.entrypoint + container.checksum)
 * - filesChecksum = the sha256_hex of each algorithm file's content, concatenated in file order, lower case.
 */

export function containerSectionChecksum(container: { entrypoint: string; checksum: string }): string {
  return createHash('sha256').update(container.entrypoint + container.checksum, 'utf8').digest('hex');
}

export interface DownloadRules {
  fetch?: typeof fetch;
  /** Per file, for the whole download. */
  timeoutMs?: number;
  /** Refuse files larger than this. */
  maxBytes?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

/** sha256 (hex) of one file's content, streamed. Failures name the file by position, never by URL. */
export async function fileContentSha256(file: FileAccess, where: string, rules: DownloadRules = {}): Promise<string> {
  const doFetch = rules.fetch ?? fetch;
  const maxBytes = rules.maxBytes ?? DEFAULT_MAX_BYTES;
  const hash = createHash('sha256');
  let size = 0;
  try {
    const response = await doFetch(file.url, {
      method: file.method,
      headers: file.headers,
      redirect: 'follow',
      signal: AbortSignal.timeout(rules.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    });
    if (!response.ok || !response.body) {
      await response.body?.cancel();
      throw deny('FILES_UNREACHABLE', `${where} answered HTTP ${response.status}`);
    }
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel();
        throw deny('FILES_UNREACHABLE', `${where} is larger than ${maxBytes} bytes`);
      }
      hash.update(value);
    }
  } catch (err) {
    if (err instanceof AccessDenied) throw err;
    throw deny('FILES_UNREACHABLE', `${where} could not be downloaded`);
  }
  return hash.digest('hex');
}

export async function filesChecksum(files: readonly FileAccess[], rules: DownloadRules = {}): Promise<string> {
  const sums: string[] = [];
  for (const [i, file] of files.entries()) sums.push(await fileContentSha256(file, `algorithm file ${i}`, rules));
  return sums.join('').toLowerCase();
}
