import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { CreateBucketCommand, HeadBucketCommand } from '@aws-sdk/client-s3';
import { makeS3Client } from '../lib/job/results-store.ts';
import { freePort, startProcess, waitFor, type ManagedProcess } from './processes.ts';
import type { PlatformEnv } from './platform-env.ts';

/** Starts MinIO on 127.0.0.1 with fresh credentials and one bucket for job results. */
export async function startObjectStore(opts: {
  binary: string;
  stateDir: string;
  bucket?: string;
}): Promise<{ s3: PlatformEnv['s3']; process: ManagedProcess }> {
  const [port, consolePort] = [await freePort(), await freePort()];
  const dataDir = join(opts.stateDir, 'minio-data');
  mkdirSync(dataDir, { recursive: true });
  const s3 = {
    endpoint: `http://127.0.0.1:${port}`,
    accessKeyId: `c2d${randomBytes(6).toString('hex')}`,
    secretAccessKey: randomBytes(24).toString('base64url'),
    bucket: opts.bucket ?? 'c2d-results',
    region: 'us-east-1',
  };
  const proc = startProcess(
    'minio',
    opts.binary,
    ['server', dataDir, '--address', `127.0.0.1:${port}`, '--console-address', `127.0.0.1:${consolePort}`, '--quiet'],
    {
      logFile: join(opts.stateDir, 'logs', 'minio.log'),
      env: {
        ...process.env,
        MINIO_ROOT_USER: s3.accessKeyId,
        MINIO_ROOT_PASSWORD: s3.secretAccessKey,
        MINIO_BROWSER: 'off',
        MINIO_UPDATE: 'off',
        HOME: opts.stateDir,
      },
    },
  );
  const client = makeS3Client(s3);
  try {
    await waitFor(
      'MinIO',
      async (signal) => {
        const res = await fetch(`${s3.endpoint}/minio/health/ready`, { signal });
        return res.ok;
      },
      60_000,
      200,
    );
    await client.send(new CreateBucketCommand({ Bucket: s3.bucket })).catch(async (err) => {
      // A restarted platform keeps its data directory and so its bucket.
      await client.send(new HeadBucketCommand({ Bucket: s3.bucket })).catch(() => {
        throw err;
      });
    });
  } catch (err) {
    await proc.stop();
    throw err;
  } finally {
    client.destroy();
  }
  return { s3, process: proc };
}
