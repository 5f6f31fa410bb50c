import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bwrapArgs, type SandboxSpec } from '../../../devcluster/node/sandbox-args.ts';

const root = mkdtempSync(join(tmpdir(), 'c2d-sandbox-args-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const spec = (overrides: Partial<SandboxSpec>): SandboxSpec => ({
  argv: ['true'],
  env: { PATH: '/usr/bin:/bin' },
  mounts: [],
  extraReadOnlyBinds: [],
  hostname: 'args',
  network: false,
  uid: 1000,
  gid: 1000,
  writableTmp: false,
  ...overrides,
});

describe('bwrapArgs', () => {
  it('keeps a read-only bind visible under a volume mounted over its parent (a project checked out under /tmp)', () => {
    // The project lives under the host's /tmp, and the pod mounts a volume at /tmp, as the pod-program pods do.
    const project = join(root, 'project');
    mkdirSync(project);
    writeFileSync(join(project, 'program.mjs'), 'visible');
    const volume = join(root, 'volume');
    mkdirSync(volume);
    const args = bwrapArgs(
      spec({
        argv: ['/bin/sh', '-c', 'cat "$1" && touch /tmp/scratch', 'sh', join(project, 'program.mjs')],
        mounts: [{ hostPath: volume, mountPath: tmpdir(), readOnly: false }],
        extraReadOnlyBinds: [project],
        uid: 0,
        gid: 0,
        writableTmp: true,
      }),
    );
    expect(execFileSync('bwrap', args, { encoding: 'utf8' })).toBe('visible');
    // The volume is still the pod's /tmp.
    expect(execFileSync('ls', [volume], { encoding: 'utf8' })).toContain('scratch');
  });
});
