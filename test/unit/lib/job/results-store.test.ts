import { createServer, type Server, type Socket } from 'node:net';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeS3Client } from '../../../../lib/job/results-store.ts';

/** A store that accepts connections and never answers: a stalled connection. */
let server: Server;
const sockets: Socket[] = [];
let endpoint: string;

beforeAll(async () => {
  server = createServer((socket) => sockets.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  endpoint = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => server.close(resolve));
});

describe('makeS3Client', () => {
  it('fails a request the store never answers once its timeout has passed', async () => {
    const client = makeS3Client(
      { endpoint, region: 'us-east-1', bucket: 'b', accessKeyId: 'k', secretAccessKey: 's' },
      { requestTimeoutMs: 200 },
    );
    const started = performance.now();
    await expect(client.send(new ListObjectsV2Command({ Bucket: 'b' }))).rejects.toThrow(/timeout|timed out/i);
    expect(performance.now() - started).toBeLessThan(2_000);
    client.destroy();
  });
});
