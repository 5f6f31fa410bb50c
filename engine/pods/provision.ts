import { chmod, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import type { PrivateHostAllowList } from '../../lib/http/address-policy.ts';
import type { FileAccess, FileMeta, JobSecretData, Workflow } from '../../lib/job/workflow.ts';
import { secretMismatches } from '../../lib/job/workflow.ts';
import { DownloadError, type DownloadLimits } from './download.ts';
import type { JobLayout } from './layout.ts';
import type { ProgramLog } from './program-log.ts';
import { byteLimit, verifyFetched, type Fetched } from './verify.ts';

/**
 * What the configure pod does: lay out the job volume the way Ocean's algorithms expect and fill it with the
 * datasets, the algorithm, the DDOs and the custom data. Downloads go through `fetchFile` so tests can run it
 * against a local server.
 */

export type FetchFile = (access: FileAccess, dest: string, limits: DownloadLimits) => Promise<Fetched>;

export interface ProvisionLimits {
  connectTimeoutMs: number;
  totalTimeoutMs: number;
  maxFileBytes: number;
  /** For all files together (the job volume's size). */
  maxTotalBytes: number;
  /** Loopback, private and link-local addresses files may come from (default none). */
  privateHosts?: PrivateHostAllowList;
}

export type ProvisionResult = { ok: true; bytes: number } | { ok: false; part: 'data' | 'algorithm'; reason: string };

class ProvisionFailure extends Error {
  constructor(
    readonly part: 'data' | 'algorithm',
    reason: string,
  ) {
    super(reason);
  }
}

/**
 * Writes a file whole, replacing one an earlier run left (read-only as provisioning leaves it): configure runs again
 * when the infrastructure failed its pod (docs/reliability.md), over what the first run wrote.
 */
async function writeReadOnly(path: string, data: string, mode: number): Promise<void> {
  const part = `${path}.part`;
  await rm(part, { force: true });
  await writeFile(part, data, { mode });
  await rename(part, path);
}

async function createLayout(layout: JobLayout): Promise<void> {
  for (const dir of [layout.inputs, layout.transformations, layout.ddos, layout.outputs, layout.logs]) {
    await mkdir(dir, { recursive: true, mode: 0o755 });
  }
}

export async function provision(
  workflow: Workflow,
  secret: JobSecretData,
  layout: JobLayout,
  limits: ProvisionLimits,
  fetchFile: FetchFile,
  log: ProgramLog,
): Promise<ProvisionResult> {
  let total = 0;

  const fetchInto = async (
    part: 'data' | 'algorithm',
    what: string,
    access: FileAccess,
    meta: Pick<FileMeta, 'contentLength' | 'checksum'>,
    dest: string,
  ): Promise<void> => {
    const maxBytes = byteLimit(limits.maxFileBytes, limits.maxTotalBytes - total, meta.contentLength);
    let fetched: Fetched;
    try {
      fetched = await fetchFile(access, dest, {
        connectTimeoutMs: limits.connectTimeoutMs,
        totalTimeoutMs: limits.totalTimeoutMs,
        maxBytes,
        ...(limits.privateHosts && { privateHosts: limits.privateHosts }),
      });
    } catch (err) {
      const reason = err instanceof DownloadError ? err.message : 'unexpected error';
      throw new ProvisionFailure(part, `${what}: download failed: ${reason}`);
    }
    const problem = verifyFetched(fetched, meta);
    if (problem) throw new ProvisionFailure(part, `${what}: ${problem}`);
    total += fetched.bytes;
    await chmod(dest, 0o444);
    log.info(`${what}: ${fetched.bytes} bytes, sha256 ${fetched.sha256}`);
  };

  try {
    const mismatches = secretMismatches(workflow, secret);
    if (mismatches.length) {
      const algorithmOnly = mismatches.every((m) => m.startsWith('algorithm'));
      throw new ProvisionFailure(
        algorithmOnly ? 'algorithm' : 'data',
        `job configuration inconsistent: ${mismatches.join('; ')}`,
      );
    }
    await createLayout(layout);

    for (const dataset of workflow.datasets) {
      await mkdir(layout.inputDir(dataset.did), { recursive: true, mode: 0o755 });
      const accesses = secret.datasets[dataset.did]!;
      for (const file of dataset.files) {
        await fetchInto(
          'data',
          `dataset ${dataset.did} file ${file.index}`,
          accesses[file.index]!,
          file,
          layout.inputFile(dataset.did, file.index),
        );
      }
    }
    for (const [did, ddo] of Object.entries(secret.ddos)) {
      await writeReadOnly(layout.ddoFile(did), JSON.stringify(ddo), 0o444);
    }
    if (workflow.algoCustomData !== undefined) {
      await writeReadOnly(layout.algoCustomData, JSON.stringify(workflow.algoCustomData), 0o444);
    }

    const algo = secret.algorithm;
    if (algo.kind === 'rawcode') {
      const bytes = Buffer.byteLength(algo.rawcode);
      if (bytes > limits.maxTotalBytes - total)
        throw new ProvisionFailure('algorithm', 'algorithm: raw code exceeds the space left');
      await writeReadOnly(layout.algorithm, algo.rawcode, 0o555);
      total += bytes;
      log.info(`algorithm: raw code, ${bytes} bytes`);
    } else {
      // A published algorithm's checksum is the digest the provider verified at start (lib/job/workflow.ts).
      const meta = workflow.algorithm.kind === 'published' ? workflow.algorithm.files[0] : {};
      await fetchInto('algorithm', 'algorithm', algo.file, meta, layout.algorithm);
      await chmod(layout.algorithm, 0o555);
    }
    log.info(`provisioning done: ${total} bytes`);
    return { ok: true, bytes: total };
  } catch (err) {
    if (err instanceof ProvisionFailure) {
      log.info(`${err.part === 'data' ? 'data' : 'algorithm'} provisioning failed: ${err.message}`);
      return { ok: false, part: err.part, reason: err.message };
    }
    throw err;
  }
}
