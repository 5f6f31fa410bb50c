import { createReadStream, readFileSync, type ReadStream } from 'node:fs';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { makeS3Client } from '../../lib/job/results-store.ts';
import { resultsStoreConfigFromEnv } from '../../lib/job/results-store-config.ts';
import { resultsManifestKey, serializeResultsManifest } from '../../lib/job/results-manifest.ts';
import { assertJobId } from '../../lib/job/names.ts';
import type { Result } from '../../lib/job/status.ts';
import { PUBLISH_EXIT } from '../../lib/job/exit-codes.ts';
import { Env, type EnvVars } from '../../lib/env.ts';
import { parsePrivateHostAllowList } from '../../lib/http/address-policy.ts';
import { decryptOutput, outputPublicKey, parseOutputPrivateKey } from '../../lib/job/output-key.ts';
import {
  describeTarget,
  OutputTargetError,
  parseOutputRequest,
  type OutputRequest,
} from '../../lib/job/output-target.ts';
import { isMain } from './is-main.ts';
import { describeUploadError, outputsArchive, sealed, uploadArchive, type UploadSettings } from './output-upload.ts';
import { jobLayout } from './layout.ts';
import { ProgramLog } from './program-log.ts';
import { PUBLISH_FILE_LIMITS, selectUploads, type PublishLimits } from './publish-limits.ts';
import { planUploads, publishLogResult } from './results.ts';
import { walkFiles, type RefusedEntry, type WalkedFile } from './walk.ts';

/**
 * The publish pod program. Uploads everything under outputs/ (subfolders kept; symlink escapes refused) and every
 * log under logs/ to the results store, then its own log, then the job's results manifest listing them all (last,
 * so its presence means the rest is stored; the engine reads the results from it). Outputs over the job's disk
 * limit are not uploaded at all (see publish-limits.ts).
 *
 * A v2 job that named its own storage target (`output`, lib/job/output-target.ts) gets its outputs there instead, as
 * one archive (output-upload.ts), and only its logs in the results store, as ocean-node does. The target is decrypted
 * here and nowhere else; neither it nor anything of it is logged but its kind.
 *
 * Exits 0, 42 (over the disk limit), 3 (the output target could not be used: undecryptable, invalid, refused or
 * failing; the log says which) — after each of these the logs and manifest are stored — or 1 (an upload to the
 * results store failed).
 *
 * Environment: C2D_DATA_ROOT (/data), C2D_JOB_ID, C2D_MAX_OUTPUT_BYTES, S3_ENDPOINT, S3_REGION, S3_BUCKET,
 * S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY; with an output target, C2D_OUTPUT_FILE (its ciphertext),
 * C2D_OUTPUT_KEY_FILE (the output key; absent when the provider has none), C2D_OUTPUT_ARCHIVE (the archive's name),
 * C2D_PRIVATE_HOSTS_ALLOWED, C2D_OUTPUT_TIMEOUT_MS.
 */

export interface PublishDeps {
  client: S3Client;
  bucket: string;
  log: ProgramLog;
}

/** Where a job with an output target sends its outputs. */
export interface OutputDelivery {
  /** Decrypts and reads the target; with the output public key (the AES vector's source). Throws OutputTargetError. */
  resolve(): { request: OutputRequest; publicKey: string };
  archiveName: string;
  settings: UploadSettings;
}

export interface Published {
  results: Result[];
  exitCode: number;
}

/** Beyond this many refused entries the log gives only their count. */
const MAX_LOGGED_REFUSALS = 100;

function logRefusals(log: ProgramLog, folder: string, refused: RefusedEntry[]): void {
  for (const r of refused.slice(0, MAX_LOGGED_REFUSALS))
    log.info(`refused ${folder}/${JSON.stringify(r.relative)}: ${r.reason}`);
  if (refused.length > MAX_LOGGED_REFUSALS)
    log.info(`refused ${refused.length - MAX_LOGGED_REFUSALS} more entries of ${folder}/`);
}

/** The file's bytes up to the size it had when walked: a file that grows meanwhile cannot push past the limit. */
function bodyOf(file: WalkedFile): Buffer | ReadStream {
  return file.size === 0 ? Buffer.alloc(0) : createReadStream(file.absolute, { start: 0, end: file.size - 1 });
}

export async function publishJob(
  jobId: string,
  root: string,
  deps: PublishDeps,
  limits: PublishLimits,
  output?: OutputDelivery,
): Promise<Published> {
  const layout = jobLayout(root);
  const { client, bucket, log } = deps;
  const logs = await walkFiles(layout.logs, limits.maxFiles, limits.maxPathBytes);
  const outputs = await walkFiles(
    layout.outputs,
    Math.max(0, limits.maxFiles - logs.files.length),
    limits.maxPathBytes,
  );
  logRefusals(log, 'outputs', outputs.refused);
  logRefusals(log, 'logs', logs.refused);

  const selected = selectUploads(logs.files, outputs.files, limits.maxBytes);
  if (selected.refusal) log.info(`disk limit exceeded: ${selected.refusal}`);
  let targetFailed = false;
  if (output && !selected.refusal) targetFailed = !(await deliverOutputs(selected.outputs, output, log));
  const uploads = planUploads(jobId, selected.logs, output ? [] : selected.outputs);
  for (const { file, result } of uploads) {
    await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: result.key, Body: bodyOf(file), ContentLength: file.size }),
    );
    log.info(`stored ${result.type} ${JSON.stringify(result.filename)} (${result.filesize} bytes)`);
  }
  log.info(`published ${uploads.length} files`);

  const own = Buffer.from(log.text());
  const ownResult = publishLogResult(jobId, uploads.length, own.byteLength);
  await client.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: ownResult.key,
      Body: own,
      ContentLength: own.byteLength,
      ContentType: 'text/plain',
    }),
  );
  const results = [...uploads.map((u) => u.result), ownResult];
  const manifest = Buffer.from(serializeResultsManifest(jobId, results));
  await client.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: resultsManifestKey(jobId),
      Body: manifest,
      ContentLength: manifest.byteLength,
      ContentType: 'application/json',
    }),
  );
  const exitCode = selected.refusal
    ? PUBLISH_EXIT.diskQuotaExceeded
    : targetFailed
      ? PUBLISH_EXIT.outputTargetFailed
      : 0;
  return { results, exitCode };
}

/** Sends the outputs to the job's own target; false (and the reason logged) when that cannot be done. */
async function deliverOutputs(files: WalkedFile[], output: OutputDelivery, log: ProgramLog): Promise<boolean> {
  try {
    const { request, publicKey } = output.resolve();
    const archive = sealed(outputsArchive(files, Math.floor(Date.now() / 1000)), request, publicKey);
    await uploadArchive(request, output.archiveName, archive, output.settings);
    log.info(
      `sent ${files.length} outputs as ${output.archiveName} (${archive.length} bytes${request.aesKey ? ', AES-encrypted' : ''}) to the job's output target, ${describeTarget(request.target)}`,
    );
    return true;
  } catch (err) {
    log.info(`the outputs could not be sent to the job's output target: ${describeUploadError(err)}`);
    return false;
  }
}

/** The output target of a job that has one, from the publish pod's mounted files. */
function outputDelivery(env: Env): OutputDelivery | undefined {
  const file = env.optional('C2D_OUTPUT_FILE');
  if (!file) return undefined;
  const keyFile = env.string('C2D_OUTPUT_KEY_FILE');
  const allow = env.parsed('C2D_PRIVATE_HOSTS_ALLOWED', parsePrivateHostAllowList, '');
  env.string('C2D_OUTPUT_ARCHIVE');
  return {
    archiveName: env.matching('C2D_OUTPUT_ARCHIVE', /^[A-Za-z0-9._-]{1,200}\.tar$/, 'must be a .tar file name')!,
    settings: {
      allow,
      idleTimeoutMs: env.int('C2D_OUTPUT_TIMEOUT_MS', 30_000, { min: 1 }),
    },
    resolve() {
      let keyText: string;
      try {
        keyText = readFileSync(keyFile, 'utf8');
      } catch {
        throw new OutputTargetError('this provider has no output key configured');
      }
      let ciphertext: string;
      try {
        ciphertext = readFileSync(file, 'utf8');
      } catch {
        throw new OutputTargetError("the job's output target is missing (its output Secret is gone)");
      }
      const key = parseOutputPrivateKey(keyText);
      const request = parseOutputRequest(decryptOutput(key, ciphertext), allow);
      return { request, publicKey: outputPublicKey(key) };
    },
  };
}

export async function runPublish(vars: EnvVars): Promise<number> {
  const log = new ProgramLog();
  const env = new Env(vars);
  try {
    const jobId = assertJobId(env.string('C2D_JOB_ID'));
    const limits: PublishLimits = { ...PUBLISH_FILE_LIMITS, maxBytes: env.requiredInt('C2D_MAX_OUTPUT_BYTES') };
    const store = resultsStoreConfigFromEnv(env);
    log.info(`publish: storing the results of job ${jobId} (at most ${limits.maxBytes} bytes)`);
    const published = await publishJob(
      jobId,
      env.string('C2D_DATA_ROOT', '/data'),
      { client: makeS3Client(store), bucket: store.bucket, log },
      limits,
      outputDelivery(env),
    );
    return published.exitCode;
  } catch (err) {
    log.info(`publishing failed: ${(err as Error).name}: ${(err as Error).message}`);
    return PUBLISH_EXIT.uploadFailed;
  }
}

if (isMain(import.meta.url)) {
  process.exitCode = await runPublish(process.env);
}
