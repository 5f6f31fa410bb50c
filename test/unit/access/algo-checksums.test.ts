import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { containerSectionChecksum, filesChecksum } from '../../../lib/access/algo-checksums.ts';
import type { FileAccess } from '../../../lib/access/service-files.ts';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

function fakeFetch(bodies: Record<string, string | number>): typeof fetch {
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const body = bodies[String(input)];
    if (body === undefined) throw new TypeError('fetch failed');
    if (typeof body === 'number') return new Response('no', { status: body });
    expect(init?.method).toBeDefined();
    return new Response(body);
  }) as typeof fetch;
}

const file = (url: string): FileAccess => ({ url, method: 'GET', headers: {} });

describe('containerSectionChecksum', () => {
  it('is sha256 of entrypoint + container checksum, as Ocean provider computes it', () => {
    const checksum = 'sha256:' + 'ab'.repeat(32);
    expect(containerSectionChecksum({ entrypoint: 'python $ALGO', checksum })).toBe(sha('python $ALGO' + checksum));
  });
});

describe('filesChecksum', () => {
  it('concatenates the sha256 of each file content, in order', async () => {
    const fetchFn = fakeFetch({ 'https://a.example/1': 'print(1)', 'https://a.example/2': 'print(2)' });
    await expect(filesChecksum([file('https://a.example/1'), file('https://a.example/2')], { fetch: fetchFn })).resolves.toBe(
      sha('print(1)') + sha('print(2)'),
    );
  });

  it('refuses unreachable, failing or oversized files without naming their URL', async () => {
    const fetchFn = fakeFetch({ 'https://a.example/404': 404, 'https://a.example/big': 'x'.repeat(100) });
    for (const [url, rules] of [
      ['https://a.example/404', {}],
      ['https://a.example/down', {}],
      ['https://a.example/big', { maxBytes: 10 }],
    ] as const) {
      const err = await filesChecksum([file(url)], { fetch: fetchFn, ...rules }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'FILES_UNREACHABLE' });
      expect((err as Error).message).not.toContain('a.example');
    }
  });
});
