import { describe, expect, it } from 'vitest';
import { bwrapArgs, type SandboxSpec } from '../../../devcluster/node/sandbox-args.ts';

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
  it('cuts the network unless asked, and drops every capability', () => {
    expect(bwrapArgs(spec({}))).toContain('--unshare-net');
    expect(bwrapArgs(spec({ network: true }))).not.toContain('--unshare-net');
    const args = bwrapArgs(spec({}));
    expect(args.slice(args.indexOf('--cap-drop'), args.indexOf('--cap-drop') + 2)).toEqual(['--cap-drop', 'ALL']);
  });
});
