import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { joinGroupsCommand, killNodeCgroups, NodeCgroups } from '../../../devcluster/node/cgroups.ts';
import { bwrapArgs } from '../../../devcluster/node/sandbox-args.ts';

function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

const name = `c2d-node-test-${randomBytes(4).toString('hex')}`;
const cgroups = NodeCgroups.detect(name);

// Needs a writable cgroup hierarchy (root here); elsewhere the node runs without limits and says so.
describe.runIf(cgroups !== undefined)('killNodeCgroups', () => {
  it('ends the sandboxes of a node that died, and removes its groups', { timeout: 20_000 }, async () => {
    const group = cgroups!.create('pod_main_0', { memoryBytes: 64 * 2 ** 20, cpuMillis: 100 });
    const args = bwrapArgs({
      argv: ['sleep', '300'],
      env: { PATH: '/usr/bin:/bin' },
      mounts: [],
      extraReadOnlyBinds: [],
      hostname: 'lifetime',
      network: false,
      uid: 1000,
      gid: 1000,
      writableTmp: false,
    });
    const [command, ...rest] = joinGroupsCommand(group.procsFiles, ['bwrap', ...args]);
    // Detached and unreferenced: as if its node had been killed, nothing else would ever end it.
    const sandbox = spawn(command!, rest, { stdio: 'ignore', detached: true });
    sandbox.unref();
    const pid = sandbox.pid!;
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && !readFileSync(group.procsFiles[0]!, 'utf8').includes(String(pid)))
      await new Promise((r) => setTimeout(r, 20));
    const members = readFileSync(group.procsFiles[0]!, 'utf8').split('\n').filter(Boolean).map(Number);
    expect(members).toContain(pid);

    await killNodeCgroups(name);
    await new Promise((r) => setTimeout(r, 100));
    for (const p of members) expect(alive(p), `pid ${p}`).toBe(false);
    for (const f of group.procsFiles) expect(existsSync(f)).toBe(false);
  });
});
