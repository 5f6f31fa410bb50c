import { createHash } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  existsSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryResultsStore } from '../../support/memory-results-store.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runConfigure } from '../../../engine/pods/configure.ts';
import { DownloadError, downloadToFile } from '../../../engine/pods/download.ts';
import { CONTAINER_LAYOUT, jobLayout } from '../../../engine/pods/layout.ts';
import { ProgramLog } from '../../../engine/pods/program-log.ts';
import { provision, type ProvisionLimits } from '../../../engine/pods/provision.ts';
import { publishJob } from '../../../engine/pods/publish.ts';
import { planUploads } from '../../../engine/pods/results.ts';
import { byteLimit, verifyFetched } from '../../../engine/pods/verify.ts';
import { walkFiles } from '../../../engine/pods/walk.ts';
import { parsePrivateHostAllowList } from '../../../lib/http/address-policy.ts';
import type { JobSecretData, Workflow } from '../../../lib/job/workflow.ts';
import { ALGO_DID, DATASET2_DID, DATASET_DID, JOB_ID, workflow } from '../../support/job-fixtures.ts';

const sha = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');
const scratch = mkdtempSync(join(tmpdir(), 'c2d-pods-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let n = 0;
const freshDir = (): string => {
  const d = join(scratch, String(n++));
  mkdirSync(d, { recursive: true });
  return d;
};

describe('layout', () => {
  it("is Ocean's", () => {
    expect(CONTAINER_LAYOUT.inputFile(DATASET_DID, 0)).toBe(`/data/inputs/${DATASET_DID}/0`);
    expect(CONTAINER_LAYOUT.algorithm).toBe('/data/transformations/algorithm');
    expect(CONTAINER_LAYOUT.ddoFile(DATASET_DID)).toBe(`/data/ddos/${DATASET_DID}`);
    expect(CONTAINER_LAYOUT.algoCustomData).toBe('/data/inputs/algoCustomData.json');
    expect(CONTAINER_LAYOUT.outputs).toBe('/data/outputs');
    expect(CONTAINER_LAYOUT.logFile('configure.log')).toBe('/data/logs/configure.log');
    expect(jobLayout('/tmp/x').inputs).toBe('/tmp/x/inputs');
  });

  it('refuses anything that is not a DID or an index as a path part', () => {
    expect(() => CONTAINER_LAYOUT.inputDir('../etc')).toThrow();
    expect(() => CONTAINER_LAYOUT.inputFile(DATASET_DID, -1)).toThrow();
    expect(() => CONTAINER_LAYOUT.logFile('../x.log')).toThrow();
  });
});

describe('verification', () => {
  it('accepts what matches and names what does not', () => {
    const f = { bytes: 3, sha256: sha('abc') };
    expect(verifyFetched(f, {})).toBeUndefined();
    expect(verifyFetched(f, { contentLength: 3, checksum: sha('abc') })).toBeUndefined();
    expect(verifyFetched(f, { contentLength: 4 })).toMatch(/size 3 bytes differs from the declared 4/);
    expect(verifyFetched(f, { checksum: sha('abd') })).toMatch(/checksum/);
  });

  it('limits a download by cap, space left and declared size', () => {
    expect(byteLimit(100, 50)).toBe(50);
    expect(byteLimit(100, 500, 7)).toBe(7);
    expect(byteLimit(10, 500, 70)).toBe(10);
  });
});

describe('walkFiles (the publish walker)', () => {
  it('keeps paths of nested outputs and refuses escapes, directory links and special files', async () => {
    const root = freshDir();
    const outputs = join(root, 'outputs');
    mkdirSync(join(outputs, 'sub', 'deeper'), { recursive: true });
    writeFileSync(join(outputs, 'a.txt'), 'A');
    writeFileSync(join(outputs, 'sub', 'deeper', 'b.bin'), 'BB');
    writeFileSync(join(root, 'secret.txt'), 'do not publish');
    symlinkSync(join(root, 'secret.txt'), join(outputs, 'escape-abs'));
    symlinkSync('../secret.txt', join(outputs, 'escape-rel'));
    symlinkSync('/etc/passwd', join(outputs, 'sub', 'passwd'));
    symlinkSync('a.txt', join(outputs, 'inside-link'));
    symlinkSync('sub', join(outputs, 'dir-link'));
    symlinkSync('nowhere', join(outputs, 'dangling'));
    writeFileSync(join(outputs, 'bad\nname'), 'x');
    // A socket file (not a regular file), made without starting a process; closing it would remove it.
    const socket = createServer();
    await new Promise<void>((resolve) => socket.listen(join(outputs, 'pipe'), resolve));

    const { files, refused } = await walkFiles(outputs).finally(() => socket.close());
    expect(files.map((f) => [f.relative, f.size])).toEqual([
      ['a.txt', 1],
      ['inside-link', 1],
      ['sub/deeper/b.bin', 2],
    ]);
    expect(files.every((f) => f.absolute.startsWith(outputs))).toBe(true);
    expect(Object.fromEntries(refused.map((r) => [r.relative, r.reason]))).toEqual({
      'bad\nname': 'unsafe name',
      dangling: 'symlink leads nowhere',
      'dir-link': 'symlinked directory',
      'escape-abs': 'symlink leads outside the directory',
      'escape-rel': 'symlink leads outside the directory',
      pipe: 'not a regular file',
      'sub/passwd': 'symlink leads outside the directory',
    });
  });

  it('refuses a prefix-sharing sibling directory (outputs-evil is not inside outputs)', async () => {
    const root = freshDir();
    mkdirSync(join(root, 'outputs'));
    mkdirSync(join(root, 'outputs-evil'));
    writeFileSync(join(root, 'outputs-evil', 'x'), 'x');
    symlinkSync(join(root, 'outputs-evil', 'x'), join(root, 'outputs', 'x'));
    expect((await walkFiles(join(root, 'outputs'))).refused).toEqual([
      { relative: 'x', reason: 'symlink leads outside the directory' },
    ]);
  });

  it('treats a missing directory as empty and caps the file count', async () => {
    expect(await walkFiles(join(scratch, 'missing'))).toEqual({ files: [], refused: [] });
    const dir = freshDir();
    for (const name of ['1', '2', '3']) writeFileSync(join(dir, name), name);
    const r = await walkFiles(dir, 2);
    expect(r.files).toHaveLength(2);
    expect(r.refused).toEqual([{ relative: '3', reason: 'more than 2 files' }]);
  });
});

describe('results reporting', () => {
  const f = (relative: string, size = 1) => ({ relative, absolute: `/x/${relative}`, size });

  it('orders configuration log, algorithm logs, outputs, with indexes and keys', () => {
    const planned = planUploads(
      JOB_ID,
      [f('algorithm.log', 5), f('configure.log', 4), f('publish.log'), f('extra.log')],
      [f('out/a.csv', 9)],
    );
    expect(planned.map((p) => p.result)).toEqual([
      {
        index: 0,
        filename: 'configure.log',
        filesize: 4,
        type: 'configurationLog',
        key: `${JOB_ID}/logs/configure.log`,
      },
      { index: 1, filename: 'algorithm.log', filesize: 5, type: 'algorithmLog', key: `${JOB_ID}/logs/algorithm.log` },
      { index: 2, filename: 'extra.log', filesize: 1, type: 'algorithmLog', key: `${JOB_ID}/logs/extra.log` },
      { index: 3, filename: 'out/a.csv', filesize: 9, type: 'output', key: `${JOB_ID}/outputs/out/a.csv` },
    ]);
  });
});

// ---- downloads and provisioning against a local HTTP server ----

const FILES: Record<string, string> = {
  '/a.csv': 'a,b\n1,2\n',
  '/b.csv': 'abc',
  '/c.csv': 'ccc',
  '/algo.js': 'console.log(42)\n',
};
let server: Server;
let base = '';
beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/hang') return; // never answers
    if (url.pathname === '/trickle') {
      res.writeHead(200);
      const t = setInterval(() => res.write('x'), 20);
      res.on('close', () => clearInterval(t));
      return;
    }
    if (url.pathname === '/big') {
      res.writeHead(200);
      res.end(Buffer.alloc(5000));
      return;
    }
    if (url.pathname === '/redirect') {
      res.writeHead(302, { location: '/a.csv' });
      res.end();
      return;
    }
    if (url.pathname === '/auth' && req.headers.authorization !== 'Bearer ok') {
      res.writeHead(401);
      res.end();
      return;
    }
    const body = FILES[url.pathname === '/auth' ? '/a.csv' : url.pathname];
    if (body === undefined) {
      res.writeHead(404);
      res.end('not found');
      return;
    }
    res.writeHead(200);
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

// The test server is on loopback, which a deployment does not allow by default.
const privateHosts = parsePrivateHostAllowList('127.0.0.1');
const limits = { connectTimeoutMs: 2000, totalTimeoutMs: 5000, maxBytes: 1_000_000, privateHosts };
/** The workflow's algorithm, pinned to the digest of /algo.js as start records it. */
const pinnedAlgorithm = (): Workflow['algorithm'] =>
  ({ ...workflow().algorithm, files: [{ index: 0, checksum: sha(FILES['/algo.js']!) }] }) as Workflow['algorithm'];
const get = (path: string, headers: Record<string, string> = {}) => ({
  url: `${base}${path}?token=s3cret`,
  method: 'GET' as const,
  headers,
});

describe('downloadToFile', () => {
  it('streams to the destination with size and sha256, sending headers', async () => {
    const dest = join(freshDir(), 'f');
    expect(await downloadToFile(get('/a.csv'), dest, limits)).toEqual({ bytes: 8, sha256: sha(FILES['/a.csv']!) });
    expect(readFileSync(dest, 'utf8')).toBe(FILES['/a.csv']);
    expect((await downloadToFile(get('/auth', { Authorization: 'Bearer ok' }), dest, limits)).bytes).toBe(8);
  });

  const failure = async (access: ReturnType<typeof get>, l = limits): Promise<string> => {
    const dest = join(freshDir(), 'f');
    const err = await downloadToFile(access, dest, l).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DownloadError);
    expect(existsSync(dest) || existsSync(`${dest}.part`)).toBe(false);
    const message = (err as Error).message;
    expect(message).not.toContain('s3cret');
    expect(message).not.toContain('127.0.0.1');
    return message;
  };

  it('follows no redirect, and connects to no internal address it is not allowed', async () => {
    expect(await failure(get('/redirect'))).toBe('redirect not followed (HTTP 302)');
    expect(await failure(get('/a.csv'), { ...limits, privateHosts: parsePrivateHostAllowList('') })).toBe(
      'address not allowed',
    );
  });

  it('reports HTTP errors by status only', async () => {
    expect(await failure(get('/missing'))).toBe('HTTP 404');
    expect(await failure(get('/auth'))).toBe('HTTP 401');
  });

  it('enforces the size cap while streaming', async () => {
    expect(await failure(get('/big'), { ...limits, maxBytes: 1000 })).toMatch(/exceeds the limit of 1000/);
  });

  it('times out waiting for a response', async () => {
    expect(await failure(get('/hang'), { ...limits, connectTimeoutMs: 150 })).toBe('connect timeout');
  });

  it('times out a transfer that takes too long', async () => {
    expect(await failure(get('/trickle'), { ...limits, totalTimeoutMs: 200 })).toBe('total timeout');
  });

  it('names refused connections without the address', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    closed.close();
    expect(await failure({ url: `http://127.0.0.1:${port}/x?token=s3cret`, method: 'GET', headers: {} })).toBe(
      'network error ECONNREFUSED',
    );
  });
});

describe("provision (the configure program's work)", () => {
  const provLimits: ProvisionLimits = {
    connectTimeoutMs: 2000,
    totalTimeoutMs: 5000,
    maxFileBytes: 1_000_000,
    maxTotalBytes: 1_000_000,
    privateHosts,
  };
  const wf = (): Workflow =>
    workflow({
      algorithm: pinnedAlgorithm(),
      datasets: [
        {
          did: DATASET_DID,
          serviceId: 'compute',
          transferTxId: '0x' + 'cd'.repeat(32),
          files: [{ index: 0 }, { index: 1, contentLength: 3, checksum: sha('abc') }],
        },
        { did: DATASET2_DID, serviceId: 'compute', transferTxId: '0x' + 'cd'.repeat(32), files: [{ index: 0 }] },
      ],
    });
  const secret = (over: Partial<JobSecretData> = {}): JobSecretData => ({
    version: 1,
    datasets: { [DATASET_DID]: [get('/a.csv'), get('/b.csv')], [DATASET2_DID]: [get('/c.csv')] },
    algorithm: { kind: 'published', file: get('/algo.js') },
    ddos: { [DATASET_DID]: { id: DATASET_DID }, [ALGO_DID]: { id: ALGO_DID } },
    ...over,
  });
  const run = async (w: Workflow, s: JobSecretData, l = provLimits, root = freshDir()) => {
    const lines: string[] = [];
    const result = await provision(
      w,
      s,
      jobLayout(root),
      l,
      downloadToFile,
      new ProgramLog(undefined, (line) => lines.push(line)),
    );
    return { root, result, log: lines.join('\n') };
  };

  it('lays out inputs, algorithm, DDOs and custom data the way Ocean does', async () => {
    const { root, result, log } = await run(wf(), secret());
    expect(result).toEqual({ ok: true, bytes: 8 + 3 + 3 + 16 });
    expect(readFileSync(join(root, 'inputs', DATASET_DID, '0'), 'utf8')).toBe(FILES['/a.csv']);
    expect(readFileSync(join(root, 'inputs', DATASET_DID, '1'), 'utf8')).toBe('abc');
    expect(readFileSync(join(root, 'inputs', DATASET2_DID, '0'), 'utf8')).toBe('ccc');
    expect(readFileSync(join(root, 'transformations', 'algorithm'), 'utf8')).toBe(FILES['/algo.js']);
    expect(JSON.parse(readFileSync(join(root, 'ddos', ALGO_DID), 'utf8'))).toEqual({ id: ALGO_DID });
    expect(JSON.parse(readFileSync(join(root, 'inputs', 'algoCustomData.json'), 'utf8'))).toEqual({ epochs: 3 });
    expect(statSync(join(root, 'outputs')).isDirectory()).toBe(true);
    expect(statSync(join(root, 'logs')).isDirectory()).toBe(true);
    expect(statSync(join(root, 'inputs', DATASET_DID, '0')).mode & 0o222).toBe(0);
    expect(log).not.toContain('s3cret');
    expect(log).not.toContain(base);
  });

  it('a wrong checksum is a data failure that says which file', async () => {
    const w = wf();
    w.datasets[0]!.files[1] = { index: 1, checksum: sha('abd') };
    const { result, log } = await run(w, secret());
    expect(result).toEqual({
      ok: false,
      part: 'data',
      reason: `dataset ${DATASET_DID} file 1: sha256 checksum differs from the declared one`,
    });
    expect(log).toContain('data provisioning failed');
  });

  it('a wrong declared size is a data failure', async () => {
    const w = wf();
    w.datasets[0]!.files[1] = { index: 1, contentLength: 2 };
    expect((await run(w, secret())).result).toMatchObject({ ok: false, part: 'data' });
  });

  it('a bad dataset URL is a data failure without the URL in the log', async () => {
    const s = secret();
    s.datasets[DATASET2_DID] = [get('/missing')];
    const { result, log } = await run(wf(), s);
    expect(result).toEqual({
      ok: false,
      part: 'data',
      reason: `dataset ${DATASET2_DID} file 0: download failed: HTTP 404`,
    });
    expect(log).not.toContain('s3cret');
  });

  it('a bad algorithm URL or checksum is an algorithm failure', async () => {
    expect((await run(wf(), secret({ algorithm: { kind: 'published', file: get('/missing') } }))).result).toMatchObject(
      { ok: false, part: 'algorithm' },
    );
    const w = wf();
    if (w.algorithm.kind === 'published') w.algorithm.files = [{ index: 0, checksum: sha('other') }];
    expect((await run(w, secret())).result).toMatchObject({ ok: false, part: 'algorithm' });
  });

  it('runs no algorithm bytes but those start verified, from no redirect', async () => {
    const swapped = await run(wf(), secret({ algorithm: { kind: 'published', file: get('/a.csv') } }));
    expect(swapped.result).toEqual({
      ok: false,
      part: 'algorithm',
      reason: 'algorithm: sha256 checksum differs from the declared one',
    });
    const redirected = await run(wf(), secret({ algorithm: { kind: 'published', file: get('/redirect') } }));
    expect(redirected.result).toEqual({
      ok: false,
      part: 'algorithm',
      reason: 'algorithm: download failed: redirect not followed (HTTP 302)',
    });
  });

  it('raw code is written as the algorithm', async () => {
    const w = workflow({
      algorithm: { kind: 'raw', source: 'rawcode', container: { image: 'node', tag: '20', entrypoint: 'node $ALGO' } },
      datasets: wf().datasets,
    });
    const { root, result } = await run(w, secret({ algorithm: { kind: 'rawcode', rawcode: 'print(1)' } }));
    expect(result.ok).toBe(true);
    expect(readFileSync(join(root, 'transformations', 'algorithm'), 'utf8')).toBe('print(1)');
  });

  it('runs again over what a first run left, read-only files included (a retried configure)', async () => {
    const raw = workflow({
      algorithm: { kind: 'raw', source: 'rawcode', container: { image: 'node', tag: '20', entrypoint: 'node $ALGO' } },
      datasets: wf().datasets,
    });
    for (const [w, s] of [
      [wf(), secret()],
      [raw, secret({ algorithm: { kind: 'rawcode', rawcode: 'print(1)' } })],
    ] as const) {
      const first = await run(w, s);
      expect(first.result.ok).toBe(true);
      const algorithm = join(first.root, 'transformations', 'algorithm');
      const ddo = join(first.root, 'ddos', ALGO_DID);
      const before = [statSync(algorithm).ino, statSync(ddo).ino];
      const again = await run(w, s, provLimits, first.root);
      expect(again.result, again.log).toEqual(first.result);
      expect(statSync(algorithm).mode & 0o777).toBe(0o555);
      // Each file is a new one renamed into place, not the old one written over: the job's user may not write to
      // the read-only file the first run left (root, running this test, may; so the inode is what tells).
      expect([statSync(algorithm).ino, statSync(ddo).ino].map((ino, i) => ino !== before[i])).toEqual([true, true]);
    }
  });

  it('the total size cap covers all files', async () => {
    expect((await run(wf(), secret(), { ...provLimits, maxTotalBytes: 10 })).result).toMatchObject({
      ok: false,
      part: 'data',
      reason: expect.stringContaining('exceeds the limit'),
    });
  });

  it('a Secret that does not fit the workflow fails before downloading', async () => {
    const s = secret();
    delete s.datasets[DATASET2_DID];
    expect((await run(wf(), s)).result).toMatchObject({
      ok: false,
      part: 'data',
      reason: expect.stringContaining('no file locations'),
    });
    expect((await run(wf(), secret({ algorithm: { kind: 'rawcode', rawcode: 'x' } }))).result).toMatchObject({
      ok: false,
      part: 'algorithm',
    });
  });
});

describe('runConfigure (the program around provision)', () => {
  const setup = (s: JobSecretData) => {
    const dir = freshDir();
    writeFileSync(
      join(dir, 'workflow.json'),
      JSON.stringify(
        workflow({
          algorithm: pinnedAlgorithm(),
          datasets: [
            { did: DATASET_DID, serviceId: 'compute', transferTxId: '0x' + 'cd'.repeat(32), files: [{ index: 0 }] },
          ],
        }),
      ),
    );
    writeFileSync(join(dir, 'job.json'), JSON.stringify(s));
    return {
      C2D_DATA_ROOT: join(dir, 'data'),
      C2D_WORKFLOW_FILE: join(dir, 'workflow.json'),
      C2D_SECRET_FILE: join(dir, 'job.json'),
      C2D_CONNECT_TIMEOUT_MS: '2000',
      C2D_PRIVATE_HOSTS_ALLOWED: '127.0.0.1',
    };
  };
  const base1 = (algorithm: JobSecretData['algorithm']): JobSecretData => ({
    version: 1,
    datasets: { [DATASET_DID]: [get('/a.csv')] },
    algorithm,
    ddos: {},
  });

  it('exits 0 and leaves its log on the volume', async () => {
    const env = setup(base1({ kind: 'published', file: get('/algo.js') }));
    expect(await runConfigure(env)).toBe(0);
    expect(readFileSync(join(env.C2D_DATA_ROOT, 'logs', 'configure.log'), 'utf8')).toContain('provisioning done');
  });

  it('exits 32 when the algorithm cannot be fetched or is not what start verified, 31 when a dataset cannot be fetched', async () => {
    expect(await runConfigure(setup(base1({ kind: 'published', file: get('/missing') })))).toBe(32);
    expect(await runConfigure(setup(base1({ kind: 'published', file: get('/b.csv') })))).toBe(32);
    const s = base1({ kind: 'published', file: get('/algo.js') });
    s.datasets[DATASET_DID] = [get('/missing')];
    expect(await runConfigure(setup(s))).toBe(31);
  });

  it('exits 31 when its configuration is unreadable, without echoing it', async () => {
    const env = setup(base1({ kind: 'published', file: get('/algo.js') }));
    writeFileSync(env.C2D_SECRET_FILE, '{"version":1,"datasets":"https://x/?token=s3cret"}');
    expect(await runConfigure(env)).toBe(31);
    expect(readFileSync(join(env.C2D_DATA_ROOT, 'logs', 'configure.log'), 'utf8')).not.toContain('s3cret');
  });
});

describe('publishJob', () => {
  it('uploads outputs (paths kept) and logs, refuses escapes, stores the results manifest last', async () => {
    const root = freshDir();
    mkdirSync(join(root, 'outputs', 'sub'), { recursive: true });
    mkdirSync(join(root, 'logs'));
    writeFileSync(join(root, 'outputs', 'sub', 'r.txt'), 'result');
    writeFileSync(join(root, 'logs', 'configure.log'), 'conf');
    writeFileSync(join(root, 'logs', 'algorithm.log'), 'algo');
    writeFileSync(join(root, 'private'), 'no');
    symlinkSync(join(root, 'private'), join(root, 'outputs', 'leak'));

    const { client, stored, order } = memoryResultsStore();
    const limits = { maxBytes: 1_000_000, maxFiles: 100, maxPathBytes: 512 };
    const { results, exitCode } = await publishJob(
      JOB_ID,
      root,
      { client, bucket: 'b', log: new ProgramLog(undefined, () => undefined) },
      limits,
    );

    expect(results.map((r) => [r.index, r.type, r.filename])).toEqual([
      [0, 'configurationLog', 'configure.log'],
      [1, 'algorithmLog', 'algorithm.log'],
      [2, 'output', 'sub/r.txt'],
      [3, 'publishLog', 'publish.log'],
    ]);
    expect(stored.get(`${JOB_ID}/outputs/sub/r.txt`)?.toString()).toBe('result');
    expect([...stored.keys()].some((k) => k.includes('leak'))).toBe(false);
    expect(stored.get(`${JOB_ID}/logs/publish.log`)?.toString()).toContain('refused outputs/"leak"');
    expect(results[3]!.filesize).toBe(stored.get(`${JOB_ID}/logs/publish.log`)!.byteLength);
    expect(exitCode).toBe(0);
    expect(order.at(-1)).toBe(`${JOB_ID}/manifest.json`);
    expect(JSON.parse(stored.get(`${JOB_ID}/manifest.json`)!.toString())).toEqual({
      version: 1,
      jobId: JOB_ID,
      results,
    });
  });
});
