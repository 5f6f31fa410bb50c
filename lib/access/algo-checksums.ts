import { createHash } from 'node:crypto';
import { NO_PRIVATE_HOSTS, type PrivateHostAllowList } from '../http/address-policy.ts';
import { openFile, type FileRequestOptions } from '../http/file-request.ts';
import { deny } from './errors.ts';
import type { FileAccess } from './service-files.ts';

/**
 * The two checksums a dataset publisher pins in `publisherTrustedAlgorithms`, computed as Ocean's provider computes
 * them (ocean_provider/validation/algo.py get_algo_checksums):
 * - containerSectionChecksum = sha256_hex(container.entrypoint + container.checksum)
 * - filesChecksum = the sha256_hex of each algorithm file's content, concatenated in file order, lower case.
 */

export function containerSectionChecksum(container: { entrypoint: string; checksum: string }): string {
  return createHash('sha256')
    .update(container.entrypoint + container.checksum, 'utf8')
    .digest('hex');
}

export interface DownloadRules {
  /** Loopback, private and link-local addresses the provider may fetch from (default: none). */
  privateHosts?: PrivateHostAllowList;
  /** For all the files of one request together. */
  timeoutMs?: number;
  /** For all the files of one request together. */
  maxBytes?: number;
  /** Resolves names (tests). */
  lookup?: FileRequestOptions['lookup'];
}

const DEFAULT_TIMEOUT_MS = 20_000;
const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;

/**
 * The sha256 (hex) of each algorithm file's content, streamed, within one time and byte budget for them all. Every
 * failure — refused address, redirect, HTTP status, network error, timeout, size — is the same refusal naming the
 * file by position: a caller who wrote the URL learns nothing about what answered there.
 */
export async function algorithmFileDigests(files: readonly FileAccess[], rules: DownloadRules = {}): Promise<string[]> {
  const signal = AbortSignal.timeout(rules.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  let budget = rules.maxBytes ?? DEFAULT_MAX_BYTES;
  const digests: string[] = [];
  for (const [i, file] of files.entries()) {
    const hash = createHash('sha256');
    try {
      const body = await openFile(file, {
        allow: rules.privateHosts ?? NO_PRIVATE_HOSTS,
        signal,
        lookup: rules.lookup,
      });
      try {
        for await (const chunk of body as AsyncIterable<Buffer>) {
          budget -= chunk.byteLength;
          if (budget < 0) throw new Error('too large');
          hash.update(chunk);
        }
      } finally {
        body.destroy();
      }
    } catch {
      throw deny('FILES_UNREACHABLE', `algorithm file ${i} could not be downloaded`);
    }
    digests.push(hash.digest('hex'));
  }
  return digests;
}

/** Ocean's filesChecksum from the files' digests: concatenated in file order, lower case. */
export function filesChecksumOf(digests: readonly string[]): string {
  return digests.join('').toLowerCase();
}

export async function filesChecksum(files: readonly FileAccess[], rules: DownloadRules = {}): Promise<string> {
  return filesChecksumOf(await algorithmFileDigests(files, rules));
}
