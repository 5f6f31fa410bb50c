import { createReadStream } from 'node:fs';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { makeS3Client, resultsStoreConfigFromEnv } from '../../lib/job/results-store.ts';
import { assertJobId } from '../../lib/job/names.ts';
import type { Result } from '../../lib/job/status.ts';
import { envString, isMain } from './env.ts';
import { jobLayout } from './layout.ts';
import { ProgramLog } from './program-log.ts';
import { formatResultsLine, planUploads, publishLogResult } from './results.ts';
import { walkFiles } from './walk.ts';

/**
 * The publish pod program. Uploads everything under outputs/ (subfolders kept; symlink escapes refused) and every
 * log under logs/ to the results store, then its own log, and prints the list of what it stored as its last stdout
 * line (`C2D_RESULTS <json>`, see results.ts); the engine reads that line from the pod's log. Exits 1 when any
 * upload fails.
 *
 * Environment: C2D_DATA_ROOT (/data), C2D_JOB_ID, S3_ENDPOINT, S3_REGION, S3_BUCKET, S3_ACCESS_KEY_ID,
 * S3_SECRET_ACCESS_KEY.
 */

export interface PublishDeps {
  client: S3Client;
  bucket: string;
  log: ProgramLog;
  /** Where the final results line goes (stdout in a pod). */
  report: (line: string) => void;
}

export async function publishJob(jobId: string, root: string, deps: PublishDeps): Promise<Result[]> {
  const layout = jobLayout(root);
  const { client, bucket, log } = deps;
  const outputs = await walkFiles(layout.outputs);
  const logs = await walkFiles(layout.logs);
  for (const r of outputs.refused) log.info(`refused outputs/${JSON.stringify(r.relative)}: ${r.reason}`);
  for (const r of logs.refused) log.info(`refused logs/${JSON.stringify(r.relative)}: ${r.reason}`);

  const uploads = planUploads(jobId, logs.files, outputs.files);
  for (const { file, result } of uploads) {
    await client.send(
      new PutObjectCommand({ Bucket: bucket, Key: result.key, Body: createReadStream(file.absolute), ContentLength: file.size }),
    );
    log.info(`stored ${result.type} ${JSON.stringify(result.filename)} (${result.filesize} bytes)`);
  }
  log.info(`published ${uploads.length} files`);

  const own = Buffer.from(log.text());
  const ownResult = publishLogResult(jobId, uploads.length, own.byteLength);
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: ownResult.key, Body: own, ContentLength: own.byteLength, ContentType: 'text/plain' }));
  const results = [...uploads.map((u) => u.result), ownResult];
  deps.report(formatResultsLine(results));
  return results;
}

export async function runPublish(env: NodeJS.ProcessEnv): Promise<number> {
  const log = new ProgramLog();
  try {
    const jobId = assertJobId(envString(env, 'C2D_JOB_ID'));
    const store = resultsStoreConfigFromEnv(env);
    log.info(`publish: storing the results of job ${jobId}`);
    await publishJob(jobId, envString(env, 'C2D_DATA_ROOT', '/data'), {
      client: makeS3Client(store),
      bucket: store.bucket,
      log,
      report: (line) => process.stdout.write(`${line}\n`),
    });
    return 0;
  } catch (err) {
    log.info(`publishing failed: ${(err as Error).name}: ${(err as Error).message}`);
    return 1;
  }
}

if (isMain(import.meta.url)) {
  process.exitCode = await runPublish(process.env);
}
