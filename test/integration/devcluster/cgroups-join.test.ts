import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { joinGroupsCommand } from '../../../devcluster/node/cgroups.ts';

describe('joinGroupsCommand, run', () => {
  it('writes its own pid to every file, then execs the command as that same process', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cg-'));
    try {
      const files = [join(dir, 'a'), join(dir, 'b')];
      const [cmd, ...args] = joinGroupsCommand(files, ['/bin/sh', '-c', 'echo $$']);
      const pid = execFileSync(cmd!, args, { encoding: 'utf8' }).trim();
      expect(pid).toMatch(/^\d+$/);
      for (const f of files) expect(readFileSync(f, 'utf8').trim()).toBe(pid);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('does not run the command when a file cannot be written', () => {
    expect(() =>
      execFileSync('/bin/sh', joinGroupsCommand(['/nonexistent/dir/cgroup.procs'], ['/bin/echo', 'ran']).slice(1), {
        stdio: 'pipe',
      }),
    ).toThrow();
  });
});
