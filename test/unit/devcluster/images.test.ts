import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveImage, UnsupportedImage } from '../../../devcluster/node/images.ts';
import { projectNodeBinary } from '../../../devcluster/node/node-binary.ts';

const host = { projectRoot: '/work/project', nodeBinary: '/work/project/node_modules/node/bin/node' };

describe('resolveImage', () => {
  it("runs node:* images on the project's Node: its directory is bound read-only and searched first", () => {
    for (const image of ['node:24', 'node:20-bookworm-slim', 'docker.io/library/node:24@sha256:abc']) {
      const r = resolveImage(image, ['/bin/sh', '-c', 'node $ALGO'], undefined, host);
      expect(r.argv).toEqual(['/bin/sh', '-c', 'node $ALGO']);
      expect(r.extraReadOnlyBinds).toEqual(['/work/project/node_modules/node/bin']);
      expect(r.searchPath).toEqual(['/work/project/node_modules/node/bin']);
    }
    expect(resolveImage('node:24', undefined, ['x.js'], host).argv).toEqual(['node', 'x.js']);
  });

  it("runs the pod programs on the project's Node by its path, with the project visible", () => {
    const r = resolveImage('ghcr.io/acme/c2d/pod-programs:1.0', ['publish'], ['--x'], host);
    expect(r.argv).toEqual([host.nodeBinary, '/work/project/node_modules/.cache/c2d-pod-programs/publish.mjs', '--x']);
    expect(r.extraReadOnlyBinds).toEqual([host.projectRoot, '/work/project/node_modules/node/bin']);
    const outside = resolveImage('c2d/pod-programs:1', ['configure'], undefined, {
      ...host,
      nodeBinary: '/opt/node/bin/node',
    });
    expect(outside.extraReadOnlyBinds).toEqual([host.projectRoot, '/opt/node/bin']);
  });

  it('adds nothing to the search path of other runtimes', () => {
    expect(resolveImage('python:3.11', ['python', 'a.py'], undefined, host)).toMatchObject({
      argv: ['python3', 'a.py'],
      searchPath: [],
      extraReadOnlyBinds: [],
    });
    expect(resolveImage('busybox:1.36', undefined, undefined, host)).toMatchObject({ argv: ['sh'], searchPath: [] });
    expect(() => resolveImage('nginx:1', undefined, undefined, host)).toThrow(UnsupportedImage);
  });
});

describe('projectNodeBinary', () => {
  const root = mkdtempSync(join(tmpdir(), 'node-binary-test-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('follows node_modules/.bin/node to the real file', () => {
    const project = join(root, 'installed');
    mkdirSync(join(project, 'node_modules', 'node', 'bin'), { recursive: true });
    mkdirSync(join(project, 'node_modules', '.bin'));
    writeFileSync(join(project, 'node_modules', 'node', 'bin', 'node'), '');
    symlinkSync('../node/bin/node', join(project, 'node_modules', '.bin', 'node'));
    expect(projectNodeBinary(project)).toBe(join(project, 'node_modules', 'node', 'bin', 'node'));
  });

  it('names the missing file and the fix when the project has not been installed', () => {
    expect(() => projectNodeBinary(join(root, 'bare'))).toThrow(/node_modules\/\.bin\/node \(run npm ci/);
  });
});
