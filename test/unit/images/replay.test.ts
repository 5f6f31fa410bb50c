import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Replayer, sandboxCommand, standIn } from '../../../scripts/images/replay.ts';

/** The parts of the Dockerfile replay that need no sandbox: base-image stand-in, COPY/WORKDIR placement and safety. */

const codename = /^VERSION_CODENAME=(.*)$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'unknown';
const HOST_IMAGE = `node:${process.versions.node}-${codename}-slim`;

describe('standIn', () => {
  it("accepts only a node image of the host's Node version and Debian release", () => {
    expect(standIn(`${HOST_IMAGE}@sha256:${'a'.repeat(64)}`)).toMatchObject({
      version: process.versions.node,
      codename,
      digest: `sha256:${'a'.repeat(64)}`,
    });
    expect(() => standIn(`node:1.2.3-${codename}-slim`)).toThrow(/runs node .*, the image node 1\.2\.3/);
    expect(() => standIn(`node:${process.versions.node}-zzzz-slim`)).toThrow(/the image zzzz/);
    expect(() => standIn('python:3.12-slim')).toThrow(/only node:<version>-<debian release>/);
    expect(() => standIn('node:20-alpine')).toThrow(/cannot stand in/);
  });
});

describe('sandboxCommand', () => {
  const spec = {
    mounts: new Map([
      ['/app', '/tmp/r/app'],
      ['/usr/local', '/tmp/r/usr-local'],
    ]),
    node: '/opt/project/node_modules/node/bin/node',
    writable: true,
    uid: 1000,
    gid: 1000,
    network: false,
    workdir: '/app',
    env: { A: '1' },
    argv: ['node', 'x.js'],
  };

  it('runs a non-root USER as that real uid, without network, with nothing but the stage writable', () => {
    const [cmd, args] = sandboxCommand(spec);
    expect(cmd).toBe('setpriv');
    expect(args.slice(0, 7)).toEqual(['--reuid', '1000', '--regid', '1000', '--clear-groups', '--', 'bwrap']);
    expect(args).toContain('--unshare-net');
    expect(args.join(' ')).toContain('--bind /tmp/r/app /app');
    expect(args.join(' ')).toContain('--ro-bind-try /usr /usr');
    expect(args.join(' ')).toContain('--remount-ro / --chdir /app --clearenv --setenv A 1 -- node x.js');
    expect(args.join(' ')).not.toMatch(/--(ro-)?bind(-try)? \/etc \/etc/);
    // /usr/local of the stage is mounted over the host's read-only /usr, and the stand-in Node over that.
    expect(args.indexOf('/usr/local')).toBeGreaterThan(args.indexOf('/usr'));
    expect(args.join(' ')).toContain('--ro-bind /opt/project/node_modules/node/bin/node /usr/local/bin/node');
    expect(args.indexOf('/usr/local/bin/node')).toBeGreaterThan(args.indexOf('/usr/local'));
  });

  it('runs root through bwrap directly; RUN steps keep the network', () => {
    const [cmd, args] = sandboxCommand({ ...spec, uid: 0, gid: 0, network: true, writable: false });
    expect(cmd).toBe('bwrap');
    expect(args).not.toContain('--unshare-net');
    expect(args.join(' ')).toContain('--ro-bind /tmp/r/app /app');
  });
});

describe('Replayer without RUN steps', () => {
  let context: string;
  let replayer: Replayer;

  beforeEach(async () => {
    context = mkdtempSync(join(tmpdir(), 'replay-ctx-'));
    mkdirSync(join(context, 'lib/node_modules'), { recursive: true });
    mkdirSync(join(context, 'node_modules/zod'), { recursive: true });
    writeFileSync(join(context, 'package.json'), '{}');
    writeFileSync(join(context, 'lib/a.ts'), 'a', { mode: 0o640 });
    writeFileSync(join(context, 'lib/run.sh'), '#!/bin/sh', { mode: 0o755 });
    writeFileSync(join(context, 'lib/debug.log'), 'x');
    writeFileSync(join(context, 'node_modules/zod/index.js'), 'z');
    symlinkSync('/etc', join(context, 'outside'));
    symlinkSync('a.ts', join(context, 'lib/link.ts'));
    writeFileSync(join(context, '.dockerignore'), 'node_modules\n**/*.log\n');
    replayer = await Replayer.create({ context, npmCache: null });
  });

  afterEach(async () => {
    await replayer.close();
    rmSync(context, { recursive: true, force: true });
  });

  function dockerfile(...lines: string[]): string {
    writeFileSync(join(context, 'Dockerfile'), [`FROM ${HOST_IMAGE} AS one`, ...lines].join('\n'));
    return 'Dockerfile';
  }

  it('places WORKDIR and COPY in the stage directories, honouring .dockerignore, modes and symlinks', async () => {
    const image = await replayer.replay(
      dockerfile(
        'WORKDIR /src',
        'COPY package.json ./',
        'COPY lib lib',
        `FROM ${HOST_IMAGE}`,
        'WORKDIR /app',
        'COPY --from=one /src/lib ./code',
        'COPY --from=one /src/package.json pkg.json',
        'USER 1000:1000',
        'ENTRYPOINT ["node"]',
      ),
    );
    const app = image.mounts.get('/app');
    expect(app).toBeDefined();
    expect(image.mounts.has('/src')).toBe(false);
    expect(readFileSync(join(app!, 'code/a.ts'), 'utf8')).toBe('a');
    expect(statSync(join(app!, 'code/a.ts')).mode & 0o777).toBe(0o640);
    expect(statSync(join(app!, 'code/run.sh')).mode & 0o777).toBe(0o755);
    expect(existsSync(join(app!, 'code/debug.log'))).toBe(false);
    expect(existsSync(join(app!, 'code/node_modules'))).toBe(true);
    expect(readFileSync(join(app!, 'code/link.ts'), 'utf8')).toBe('a');
    expect(readFileSync(join(app!, 'pkg.json'), 'utf8')).toBe('{}');
    expect(image.config).toMatchObject({
      workdir: '/app',
      user: { uid: 1000, gid: 1000 },
      entrypoint: ['node'],
      cmd: [],
    });
    expect(image.stages.map((s) => s.label)).toEqual(['Dockerfile stage one', 'Dockerfile stage 1']);
  });

  it('reuses a stage whose instructions and inputs are identical, and rebuilds when a copied file changes', async () => {
    const file = dockerfile(
      'WORKDIR /src',
      'COPY lib lib',
      `FROM ${HOST_IMAGE}`,
      'WORKDIR /app',
      'COPY --from=one /src/lib ./lib',
    );
    await replayer.replay(file);
    expect((await replayer.replay(file)).stages.map((s) => s.reused)).toEqual([true, true]);
    writeFileSync(join(context, 'lib/a.ts'), 'changed');
    expect((await replayer.replay(file)).stages.map((s) => s.reused)).toEqual([false, false]);
    // An ignored file changing changes nothing.
    writeFileSync(join(context, 'lib/debug.log'), 'changed');
    expect((await replayer.replay(file)).stages.map((s) => s.reused)).toEqual([true, true]);
  });

  it.each([
    [
      'a source with ..',
      ['WORKDIR /app', 'COPY ../etc/passwd ./'],
      /COPY source "\.\.\/etc\/passwd": "\.\." is refused/,
    ],
    [
      'a destination with ..',
      ['WORKDIR /app', 'COPY package.json ../../etc/'],
      /COPY destination "\.\.\/\.\.\/etc\/": "\.\." is refused/,
    ],
    [
      'a --from source with ..',
      ['WORKDIR /app', `FROM ${HOST_IMAGE}`, 'WORKDIR /x', 'COPY --from=one /app/../etc ./'],
      /"\.\." is refused/,
    ],
    [
      'a source symlinked out of the context',
      ['WORKDIR /app', 'COPY outside/passwd ./'],
      /resolves outside the build context/,
    ],
    [
      'an ignored source',
      ['WORKDIR /app', 'COPY node_modules ./node_modules'],
      /Dockerfile:3: COPY source node_modules is excluded by \.dockerignore/,
    ],
    ['a missing source', ['WORKDIR /app', 'COPY nothing ./'], /COPY source nothing does not exist/],
    [
      'a WORKDIR under the host /usr',
      ['WORKDIR /usr/src/app'],
      /\/usr\/src\/app is under \/usr, which the host provides read-only/,
    ],
    ['a COPY into /', ['COPY package.json /'], /\/ is under \/, which the host provides read-only/],
    [
      'a --from path the stage never wrote',
      ['WORKDIR /app', `FROM ${HOST_IMAGE}`, 'WORKDIR /x', 'COPY --from=one /opt/tool ./'],
      /stage one has no \/opt\/tool/,
    ],
    [
      'an image that is not the host',
      ['WORKDIR /app', 'FROM node:1.0.0-bookworm-slim'],
      /cannot stand in for node:1\.0\.0/,
    ],
  ])('refuses %s', async (_what, lines, message) => {
    await expect(replayer.replay(dockerfile(...lines))).rejects.toThrow(message);
  });
});
