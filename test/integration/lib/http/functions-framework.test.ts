import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MAX_BODY_BYTES } from '../../../../lib/http/app.ts';
import { IDLE_CONNECTION_TIMEOUT_MS } from '../../../../lib/http/functions-framework.ts';

/**
 * The start function run as its container runs it, under functions-framework (whose Express body parser would
 * otherwise answer a malformed or oversized body itself, with an HTML page). Bodies are refused before the function
 * touches the chain or Kubernetes, so nothing of either needs to exist: the RPC URL and the API server are never used.
 */
const FF_MAIN = 'node_modules/@google-cloud/functions-framework/build/src/main.js';

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}

interface Answer {
  status: number;
  contentType: string | undefined;
  body: string;
}

/** One request with exactly these headers and body chunks (no fetch: it would fix up the headers itself). */
function send(port: number, headers: Record<string, string>, chunks: Buffer[]): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/api/services/compute', headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          contentType: res.headers['content-type'],
          body: Buffer.concat(parts).toString(),
        }),
      );
      res.on('error', reject);
    });
    // A refused upload may be cut off by the server before it is all sent; the answer still arrives.
    req.on('error', (err: NodeJS.ErrnoException) =>
      err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err),
    );
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

const json = { 'content-type': 'application/json' };

describe('start under functions-framework: refused bodies are answered by the function, as JSON', () => {
  let child: ChildProcess;
  let port: number;
  let dir: string;
  let output = '';

  beforeAll(async () => {
    port = await freePort();
    dir = mkdtempSync(join(tmpdir(), 'c2d-ff-test-'));
    // Loaded at start-up, never used: the server does not exist, and bodies are refused before any Kubernetes call.
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'none', cluster: { server: 'https://127.0.0.1:9' } }],
        users: [{ name: 'none', user: { token: 'unused' } }],
        contexts: [{ name: 'none', context: { cluster: 'none', user: 'none' } }],
        'current-context': 'none',
      }),
    );
    child = spawn(
      process.execPath,
      ['--import', 'tsx', FF_MAIN, '--source=functions/start/index.ts', '--target=start', `--port=${port}`],
      {
        env: {
          PATH: process.env.PATH,
          NODE_ENV: 'production',
          KUBECONFIG: kubeconfig,
          CHAIN_ID: '8996',
          RPC_URL: 'http://127.0.0.1:9',
          ERC721_FACTORY_ADDRESS: '0x' + '12'.repeat(20),
          PROVIDER_URL: 'http://127.0.0.1:8030',
          PROVIDER_KEY: Wallet.createRandom().privateKey,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const deadline = Date.now() + 60_000;
    for (;;) {
      const up = await send(port, json, [Buffer.from('{}')]).catch(() => undefined);
      if (up) break;
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`start did not come up:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 90_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const expectJson = (answer: Answer, status: number, field: string, reason: RegExp): void => {
    expect(answer.status, answer.body).toBe(status);
    expect(answer.contentType).toMatch(/^application\/json/);
    const body = JSON.parse(answer.body) as { error?: string; field?: string; reason?: string };
    expect(body.field).toBe(field);
    expect(body.reason).toMatch(reason);
    expect(body.error).toEqual(expect.any(String));
  };

  it('malformed JSON: 400 naming the body', async () => {
    expectJson(await send(port, json, [Buffer.from('{bad')]), 400, 'body', /not valid JSON/);
  });

  it("malformed JSON with a charset body-parser does not know, or as text: still the function's 400", async () => {
    expectJson(
      await send(port, { 'content-type': 'application/json; charset=klingon' }, [Buffer.from('{bad')]),
      400,
      'body',
      /not valid JSON/,
    );
    expectJson(
      await send(port, { 'content-type': 'text/plain' }, [Buffer.from('{bad')]),
      400,
      'body',
      /not valid JSON/,
    );
  });

  it('an empty body: 400 naming the body', async () => {
    expectJson(await send(port, { ...json, 'content-length': '0' }, []), 400, 'body', /JSON body is required/);
  });

  it('a well-formed body reaches the function intact: its schema names the field at fault', async () => {
    expectJson(
      await send(port, json, [Buffer.from(JSON.stringify({ dataset: { documentId: 'nope' } }))]),
      400,
      'dataset.documentId',
      /did:op/,
    );
  });

  it('a body over the cap, announced by Content-Length: 413 before it is read', async () => {
    const big = Buffer.alloc(DEFAULT_MAX_BODY_BYTES + 1, 0x20);
    expectJson(
      await send(port, { ...json, 'content-length': String(big.length) }, [big]),
      413,
      'body',
      new RegExp(`larger than ${DEFAULT_MAX_BODY_BYTES} bytes`),
    );
  });

  it('a chunked body that grows over the cap: 413 once it passes it', async () => {
    const chunk = Buffer.alloc(16 * 1024, 0x20);
    const chunks = Array.from({ length: 64 }, () => chunk);
    expectJson(await send(port, { ...json, 'transfer-encoding': 'chunked' }, chunks), 413, 'body', /larger than/);
  });

  it('a compressed body: 415 naming the body (it would otherwise be inflated past the cap)', async () => {
    const bomb = gzipSync(Buffer.alloc(10 * 1024 * 1024, 0x20));
    expectJson(await send(port, { ...json, 'content-encoding': 'gzip' }, [bomb]), 415, 'body', /uncompressed/);
  });

  it("keeps an idle connection open past Node's 5 s default, so a proxy reusing it (queue-proxy: 90 s) is not reset", async () => {
    expect(IDLE_CONNECTION_TIMEOUT_MS).toBeGreaterThan(90_000);
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    let received = '';
    let closed = false;
    socket.on('data', (d: Buffer) => (received += d.toString()));
    socket.on('close', () => (closed = true));
    const ask = (): void => {
      socket.write(
        `POST /api/services/compute HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
          `Content-Length: 4\r\nConnection: keep-alive\r\n\r\n{bad`,
      );
    };
    const answers = (): number => received.match(/HTTP\/1\.1 400 /g)?.length ?? 0;
    const waitFor = async (n: number): Promise<void> => {
      const deadline = Date.now() + 10_000;
      while (answers() < n && !closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    };
    try {
      ask();
      await waitFor(1);
      expect(answers(), received).toBe(1);
      await new Promise((r) => setTimeout(r, 6_500));
      expect(closed).toBe(false);
      ask();
      await waitFor(2);
      expect(answers(), received).toBe(2);
    } finally {
      socket.destroy();
    }
  }, 30_000);

  it('keeps serving afterwards, and never answered with HTML', async () => {
    expectJson(await send(port, json, [Buffer.from('[1,')]), 400, 'body', /not valid JSON/);
    expect(output).not.toMatch(/<!DOCTYPE|<html/i);
    expect(output).not.toMatch(/"level":"(warn|error)"/);
    expect(child.exitCode).toBeNull();
  });
});
