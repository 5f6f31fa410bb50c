import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  algorithmFileDigests,
  containerSectionChecksum,
  filesChecksum,
} from '../../../../lib/access/algo-checksums.ts';
import type { FileAccess } from '../../../../lib/access/service-files.ts';
import { parsePrivateHostAllowList } from '../../../../lib/http/address-policy.ts';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

let server: Server;
let base: string;
let allowed: ReturnType<typeof parsePrivateHostAllowList>;
const seen: string[] = [];
const BODIES: Record<string, string> = { '/1': 'print(1)', '/2': 'print(2)', '/big': 'x'.repeat(100) };

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req.url ?? '');
    const body = BODIES[req.url ?? ''];
    if (req.url === '/redirect') res.writeHead(302, { location: '/1' }).end();
    else if (req.url === '/forbidden') res.writeHead(403).end('<Error><Code>AccessDenied</Code></Error>');
    else if (req.url === '/hang') setTimeout(() => res.end('late'), 5_000).unref();
    else if (body === undefined) res.writeHead(404).end();
    else res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  base = `http://127.0.0.1:${port}`;
  allowed = parsePrivateHostAllowList(`127.0.0.1:${port}`);
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const file = (path: string): FileAccess => ({ url: base + path, method: 'GET', headers: {} });

describe('containerSectionChecksum', () => {
  it('is sha256 of entrypoint + container checksum, as Ocean provider computes it', () => {
    const checksum = 'sha256:' + 'ab'.repeat(32);
    expect(containerSectionChecksum({ entrypoint: 'python $ALGO', checksum })).toBe(sha('python $ALGO' + checksum));
  });
});

describe('algorithmFileDigests and filesChecksum', () => {
  it('hash each file; filesChecksum concatenates them in order', async () => {
    expect(await algorithmFileDigests([file('/1'), file('/2')], { privateHosts: allowed })).toEqual([
      sha('print(1)'),
      sha('print(2)'),
    ]);
    expect(await filesChecksum([file('/1'), file('/2')], { privateHosts: allowed })).toBe(
      sha('print(1)') + sha('print(2)'),
    );
  });

  it('refuse anything unreachable with one reason, naming the file by position only', async () => {
    const cases: [string, Parameters<typeof algorithmFileDigests>[1]][] = [
      ['/missing', { privateHosts: allowed }],
      ['/forbidden', { privateHosts: allowed }],
      ['/redirect', { privateHosts: allowed }],
      ['/1', {}],
      ['/big', { privateHosts: allowed, maxBytes: 10 }],
      ['/hang', { privateHosts: allowed, timeoutMs: 100 }],
    ];
    seen.length = 0;
    const reasons = new Set<string>();
    for (const [path, rules] of cases) {
      const err = await algorithmFileDigests([file(path)], rules).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, path).toMatchObject({ code: 'FILES_UNREACHABLE' });
      reasons.add((err as Error).message);
    }
    expect([...reasons]).toEqual(['algorithm file 0 could not be downloaded']);
    // The refused address was never asked, and the redirect was not followed.
    expect(seen.filter((p) => p === '/1')).toEqual([]);
  });

  it('hold all the files of a request to one byte budget', async () => {
    const err = await algorithmFileDigests([file('/big'), file('/big')], {
      privateHosts: allowed,
      maxBytes: 150,
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'FILES_UNREACHABLE', message: 'algorithm file 1 could not be downloaded' });
  });
});
