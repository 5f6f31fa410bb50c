import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeUploadError, outputsArchive } from '../../../../engine/pods/output-upload.ts';
import { ProgramLog } from '../../../../engine/pods/program-log.ts';
import { publishJob, type OutputDelivery } from '../../../../engine/pods/publish.ts';
import { tarLength } from '../../../../engine/pods/tar.ts';
import { walkFiles } from '../../../../engine/pods/walk.ts';
import { parsePrivateHostAllowList } from '../../../../lib/http/address-policy.ts';
import { PUBLISH_EXIT } from '../../../../lib/job/exit-codes.ts';
import { OutputTargetError, parseOutputRequest } from '../../../../lib/job/output-target.ts';
import { parseResultsManifest } from '../../../../lib/job/results-manifest.ts';
import type { Result } from '../../../../lib/job/status.ts';
import { JOB_ID } from '../../../support/job-fixtures.ts';
import { memoryResultsStore } from '../../../support/memory-results-store.ts';

const scratch = mkdtempSync(join(tmpdir(), 'c2d-publish-output-'));
let n = 0;

function volume(outputs: Record<string, string>): string {
  const root = join(scratch, String(n++));
  mkdirSync(join(root, 'logs'), { recursive: true });
  mkdirSync(join(root, 'outputs'), { recursive: true });
  writeFileSync(join(root, 'logs', 'algorithm.log'), 'algo ran\n');
  for (const [name, body] of Object.entries(outputs)) {
    mkdirSync(join(root, 'outputs', name, '..'), { recursive: true });
    writeFileSync(join(root, 'outputs', name), body);
  }
  return root;
}

/** Reads a tar archive the way a pax-aware reader does: each entry's pax path, its type and content. */
function readTar(archive: Buffer): Array<{ path: string; type: string; content: Buffer }> {
  const entries: Array<{ path: string; type: string; content: Buffer }> = [];
  let at = 0;
  let paxPath: string | undefined;
  for (;;) {
    const header = archive.subarray(at, at + 512);
    if (header.every((b) => b === 0)) break;
    const stored = parseInt(header.subarray(148, 154).toString('ascii'), 8);
    const sum = [...header].reduce((s, b, i) => s + (i >= 148 && i < 156 ? 32 : b), 0);
    expect(sum).toBe(stored);
    expect(header.subarray(257, 265).toString('ascii')).toBe('ustar\x0000');
    const size = parseInt(header.subarray(124, 135).toString('ascii'), 8);
    const type = String.fromCharCode(header[156]!);
    const content = archive.subarray(at + 512, at + 512 + size);
    at += 512 + Math.ceil(size / 512) * 512;
    if (type === 'x') {
      const record = content.toString('utf8');
      const m = /^(\d+) path=([\s\S]*)\n$/.exec(record)!;
      expect(Number(m[1])).toBe(Buffer.byteLength(record));
      paxPath = m[2];
      continue;
    }
    entries.push({ path: paxPath!, type, content: Buffer.from(content) });
    paxPath = undefined;
  }
  expect(archive.subarray(at).equals(Buffer.alloc(1024))).toBe(true);
  return entries;
}

let server: Server;
let received: Array<{ url: string; headers: Record<string, unknown>; body: Buffer }> = [];
let answer = 200;
let base = '';

beforeAll(async () => {
  server = createServer(async (req, res) => {
    received.push({ url: req.url!, headers: req.headers, body: await buffer(req) });
    res.statusCode = answer;
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(scratch, { recursive: true, force: true });
});

const ALLOW = parsePrivateHostAllowList('127.0.0.1');

function delivery(decrypted: unknown | (() => never)): OutputDelivery {
  return {
    archiveName: `outputs-env-${JOB_ID}.tar`,
    settings: { allow: ALLOW, idleTimeoutMs: 5000 },
    resolve: () => {
      if (typeof decrypted === 'function') return (decrypted as () => never)();
      return { request: parseOutputRequest(decrypted, ALLOW), publicKey: '0x02' + '11'.repeat(32) };
    },
  };
}

async function publish(root: string, output: OutputDelivery) {
  const store = memoryResultsStore();
  const log = new ProgramLog(undefined, () => undefined);
  const out = await publishJob(
    JOB_ID,
    root,
    { client: store.client, bucket: 'b', log },
    { maxFiles: 100, maxPathBytes: 512, maxBytes: 1 << 20 },
    output,
  );
  const manifest = parseResultsManifest(JOB_ID, store.stored.get(`${JOB_ID}/manifest.json`)!.toString()) as Result[];
  return { ...out, ...store, manifest, publishLog: log.text() };
}

describe('the outputs archive', () => {
  it('holds outputs/ and every file under it, any name kept exactly, at the length promised', async () => {
    const long = `${'deep/'.repeat(30)}${'é'.repeat(80)}.csv`;
    const root = volume({ 'a.txt': 'alpha', [long]: 'x'.repeat(1500), empty: '' });
    const { files } = await walkFiles(join(root, 'outputs'), 100, 1024);
    const archive = outputsArchive(files, 1_700_000_000);
    const bytes = await buffer(archive.body());
    expect(bytes.length).toBe(archive.length);
    const entries = readTar(bytes);
    expect(entries.map((e) => [e.path, e.type]).sort()).toEqual(
      [
        ['outputs/', '5'],
        ['outputs/a.txt', '0'],
        [`outputs/${long}`, '0'],
        ['outputs/empty', '0'],
      ].sort(),
    );
    expect(entries.find((e) => e.path === `outputs/${long}`)!.content.toString()).toBe('x'.repeat(1500));
    // pax header, its record padded to a block, the entry's header; then the two end blocks.
    expect(tarLength([{ path: 'outputs/', size: 0 }])).toBe(512 * 3 + 1024);
  });
});

describe('publishJob with an output target', () => {
  it('PUTs the archive to the URL (name appended), stores only the logs, and exits 0', async () => {
    received = [];
    answer = 201;
    const root = volume({ 'result.json': '{"ok":true}' });
    const p = await publish(
      root,
      delivery({
        remoteStorage: { type: 'url', url: `${base}/up/`, headers: { 'x-token': 't', 'content-length': '1' } },
      }),
    );
    expect(p.exitCode).toBe(0);
    expect(received).toHaveLength(1);
    expect(received[0]!.url).toBe(`/up/outputs-env-${JOB_ID}.tar`);
    expect(received[0]!.headers).toMatchObject({
      'x-token': 't',
      'content-disposition': `attachment; filename="outputs-env-${JOB_ID}.tar"`,
    });
    expect(
      readTar(received[0]!.body)
        .find((e) => e.path === 'outputs/result.json')!
        .content.toString(),
    ).toBe('{"ok":true}');
    expect(p.manifest.map((r) => r.type)).toEqual(['algorithmLog', 'publishLog']);
    expect([...p.stored.keys()].some((k) => k.includes('/outputs/'))).toBe(false);
    expect(p.publishLog).toMatch(
      /sent 1 outputs as outputs-env-\w+\.tar \(\d+ bytes\) to the job's output target, a URL/,
    );
    expect(p.publishLog).not.toContain('127.0.0.1');
  });

  it('ends 3 with the logs stored and the reason in the publish log when the target answers an error', async () => {
    received = [];
    answer = 403;
    const p = await publish(volume({ 'r.txt': 'r' }), delivery({ remoteStorage: { type: 'url', url: `${base}/x` } }));
    expect(p.exitCode).toBe(PUBLISH_EXIT.outputTargetFailed);
    expect(p.manifest.map((r) => r.type)).toEqual(['algorithmLog', 'publishLog']);
    expect(p.publishLog).toMatch(/could not be sent to the job's output target: HTTP 403/);
  });

  it('ends 3 naming why when the target cannot be decrypted or used, sending nothing anywhere', async () => {
    received = [];
    for (const [output, reason] of [
      [
        () => {
          throw new OutputTargetError("output could not be decrypted with this provider's output key");
        },
        /could not be decrypted/,
      ],
      [{ remoteStorage: { type: 'url', url: 'https://10.0.0.8/x' } }, /url is an address not allowed/],
      [{ remoteStorage: { type: 'ftp', url: 'ftp://f.example/' } }, /"ftp" cannot receive uploads here/],
    ] as const) {
      const p = await publish(volume({ 'r.txt': 'r' }), delivery(output));
      expect(p.exitCode).toBe(PUBLISH_EXIT.outputTargetFailed);
      expect(p.publishLog).toMatch(reason);
      expect([...p.stored.keys()].some((k) => k.includes('/outputs/'))).toBe(false);
    }
    expect(received).toHaveLength(0);
  });
});

describe('describeUploadError', () => {
  it('says what failed in words that name no host, bucket, key or credential', () => {
    const s3 = Object.assign(new Error('Access Denied for bucket consumer-results key x'), {
      name: 'AccessDenied',
      $metadata: { httpStatusCode: 403 },
    });
    expect(describeUploadError(s3)).toBe('the store answered AccessDenied (HTTP 403)');
    expect(
      describeUploadError(Object.assign(new Error('connect ECONNREFUSED 10.0.0.8:443'), { code: 'ECONNREFUSED' })),
    ).toBe('network error ECONNREFUSED');
    expect(describeUploadError(new OutputTargetError('remoteStorage.url is an address not allowed'))).toBe(
      'remoteStorage.url is an address not allowed',
    );
    expect(
      describeUploadError(Object.assign(new Error('https://secret.example timed out'), { name: 'TimeoutError' })),
    ).toBe('TimeoutError');
    expect(describeUploadError({ name: 'not safe: https://x' })).toBe('an unknown error');
  });
});
