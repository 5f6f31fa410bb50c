import { createServer, type Server } from 'node:http';
import type { LookupAddress } from 'node:dns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_PRIVATE_HOSTS, parsePrivateHostAllowList } from '../../../../lib/http/address-policy.ts';
import { openFile, type FileLocation } from '../../../../lib/http/file-request.ts';

let server: Server;
let base: string;
let port: number;
const seen: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req.url ?? '');
    if (req.url === '/redirect') res.writeHead(302, { location: '/file' }).end();
    else if (req.url === '/file') res.end('the file');
    else if (req.url === '/hang') setTimeout(() => res.end('late'), 5_000).unref();
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
  base = `http://127.0.0.1:${port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const get = (url: string): FileLocation => ({ url, method: 'GET', headers: {} });
const text = async (body: AsyncIterable<Buffer>): Promise<string> => {
  let s = '';
  for await (const chunk of body) s += chunk.toString();
  return s;
};
const failure = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'no failure',
    (e: Error) => `${e.name}: ${e.message}`,
  );

/** A resolver that answers `addresses` for every name, as node:dns lookup would with `all: true`. */
function resolvesTo(addresses: string[]) {
  return ((_host: string, _opts: unknown, cb: (err: null, list: LookupAddress[]) => void) =>
    cb(
      null,
      addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
    )) as never;
}

describe('openFile', () => {
  const allow = () => parsePrivateHostAllowList(`127.0.0.1:${port}`);

  it('downloads from an allowed internal address', async () => {
    expect(await text(await openFile(get(`${base}/file`), { allow: allow() }))).toBe('the file');
  });

  it('does not connect to an internal address that is not allowed', async () => {
    seen.length = 0;
    expect(await failure(openFile(get(`${base}/file`), { allow: NO_PRIVATE_HOSTS }))).toBe(
      'FileRequestError: address not allowed',
    );
    expect(await failure(openFile(get(`${base}/file`), { allow: parsePrivateHostAllowList('127.0.0.1:1') }))).toBe(
      'FileRequestError: address not allowed',
    );
    expect(seen).toEqual([]);
  });

  it('does not follow a redirect', async () => {
    seen.length = 0;
    expect(await failure(openFile(get(`${base}/redirect`), { allow: allow() }))).toBe(
      'FileRequestError: redirect not followed (HTTP 302)',
    );
    expect(seen).toEqual(['/redirect']);
  });

  it('checks every address a name resolves to, when it connects', async () => {
    const named = `http://files.example:${port}/file`;
    seen.length = 0;
    expect(await failure(openFile(get(named), { allow: NO_PRIVATE_HOSTS, lookup: resolvesTo(['127.0.0.1']) }))).toBe(
      'FileRequestError: address not allowed',
    );
    expect(
      await failure(openFile(get(named), { allow: allow(), lookup: resolvesTo(['127.0.0.1', '169.254.169.254']) })),
    ).toBe('FileRequestError: address not allowed');
    expect(seen).toEqual([]);
    expect(await text(await openFile(get(named), { allow: allow(), lookup: resolvesTo(['127.0.0.1']) }))).toBe(
      'the file',
    );
  });

  it('fails on an HTTP error, and when aborted', async () => {
    expect(await failure(openFile(get(`${base}/missing`), { allow: allow() }))).toBe('FileRequestError: HTTP 404');
    expect(await failure(openFile(get(`${base}/hang`), { allow: allow(), signal: AbortSignal.timeout(100) }))).toBe(
      'FileRequestError: aborted',
    );
    expect(await failure(openFile(get('ftp://a.example/x'), { allow: allow() }))).toBe(
      'FileRequestError: not an http or https URL',
    );
  });
});
