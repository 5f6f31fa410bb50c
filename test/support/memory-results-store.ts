import type { S3Client } from '@aws-sdk/client-s3';

/** A results store in memory for the publish program's unit tests: it records what was put, in order. */
export function memoryResultsStore(): { client: S3Client; stored: Map<string, Buffer>; order: string[] } {
  const stored = new Map<string, Buffer>();
  const order: string[] = [];
  const client = {
    send: async (cmd: { input: { Key: string; Body: Buffer | NodeJS.ReadableStream } }) => {
      const chunks: Buffer[] = [];
      const body = cmd.input.Body;
      if (Buffer.isBuffer(body)) chunks.push(body);
      else for await (const c of body) chunks.push(Buffer.from(c as Buffer));
      stored.set(cmd.input.Key, Buffer.concat(chunks));
      order.push(cmd.input.Key);
      return {};
    },
  } as unknown as S3Client;
  return { client, stored, order };
}
