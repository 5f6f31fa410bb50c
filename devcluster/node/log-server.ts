import { createReadStream, promises as fsp, type ReadStream } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { ContainerLogRegistry } from './container-logs.ts';

const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
/** Only the API server's kubelet-client identity may read logs here. */
const ALLOWED_CLIENT = 'kube-apiserver-kubelet-client';

/** The last `n` lines of `text` (a trailing newline does not count as an empty line). */
function tailLines(text: string, n: number): string {
  if (n <= 0) return '';
  const lines = text.split('\n');
  const endsWithNewline = text.endsWith('\n');
  if (endsWithNewline) lines.pop();
  return lines.slice(-n).join('\n') + (endsWithNewline && lines.length ? '\n' : '');
}

/**
 * Serves `GET /containerLogs/{namespace}/{pod}/{container}` over mutual TLS, as a kubelet does, so that
 * `pods/log` through the API server (and `kubectl logs -f --tail`) reads the local node's containers.
 */
export function startLogServer(opts: {
  port: number;
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
  logs: ContainerLogRegistry;
}): Promise<Server> {
  const server = createServer(
    { cert: opts.cert, key: opts.key, ca: opts.ca, requestCert: true, rejectUnauthorized: true },
    (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      if (peer?.subject?.CN !== ALLOWED_CLIENT) {
        res.writeHead(403).end('forbidden\n');
        return;
      }
      const url = new URL(req.url ?? '/', 'https://node');
      const parts = url.pathname.split('/').filter(Boolean);
      if (
        req.method !== 'GET' ||
        parts.length !== 4 ||
        parts[0] !== 'containerLogs' ||
        !parts.slice(1).every((p) => NAME.test(p))
      ) {
        res.writeHead(404).end('not found\n');
        return;
      }
      const [, ns, pod, container] = parts as [string, string, string, string];
      const entry = opts.logs.get(ns, pod, container);
      if (!entry) {
        res.writeHead(404).end(`no logs for container ${container} of pod ${ns}/${pod}\n`);
        return;
      }
      const follow = url.searchParams.get('follow') === 'true';
      const tail = url.searchParams.has('tailLines') ? Number(url.searchParams.get('tailLines')) : undefined;
      const limit = url.searchParams.has('limitBytes') ? Number(url.searchParams.get('limitBytes')) : undefined;
      void serve(entry, { follow, tail, limit }, res).catch(() => res.destroy());
    },
  );
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, '127.0.0.1', () => resolve(server));
  });
}

async function serve(
  entry: { file: string; running: boolean },
  q: { follow: boolean; tail?: number; limit?: number },
  res: import('node:http').ServerResponse,
): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
  let text = await fsp.readFile(entry.file, 'utf8').catch(() => '');
  let offset = Buffer.byteLength(text);
  if (q.tail !== undefined && Number.isFinite(q.tail)) text = tailLines(text, q.tail);
  let sent = 0;
  const write = (chunk: string | Buffer): boolean => {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    const room = q.limit !== undefined ? Math.max(0, q.limit - sent) : buf.length;
    if (room > 0) res.write(buf.subarray(0, room));
    sent += Math.min(room, buf.length);
    return q.limit === undefined || sent < q.limit;
  };
  if (!write(text) || !q.follow) {
    res.end();
    return;
  }
  let closed = false;
  res.on('close', () => (closed = true));
  // Follow: send what the container appends until it has ended and everything it wrote was sent.
  for (;;) {
    if (closed) return;
    const wasRunning = entry.running;
    const size = (await fsp.stat(entry.file).catch(() => ({ size: offset }))).size;
    if (size > offset) {
      const stream: ReadStream = createReadStream(entry.file, { start: offset, end: size - 1 });
      for await (const chunk of stream) {
        if (!write(chunk as Buffer)) {
          res.end();
          return;
        }
      }
      offset = size;
      continue;
    }
    if (!wasRunning) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  res.end();
}
