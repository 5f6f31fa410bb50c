import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ALGORITHM_WRAPPER, escapeKubeVars } from '../../../engine/pod-specs.ts';

// The wrapper the algorithm pod runs, run here by the host's /bin/sh (a process: so an integration test).
describe('the algorithm wrapper script, run by /bin/sh', () => {
  const dir = mkdtempSync(join(tmpdir(), 'c2d-wrapper-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const unescape = (s: string): string => s.replaceAll('$$', '$');
  const run = (entrypoint: string) =>
    spawnSync(
      '/bin/sh',
      ['-c', unescape(escapeKubeVars(ALGORITHM_WRAPPER)), 'algorithm', unescape(escapeKubeVars(entrypoint))],
      {
        env: { PATH: process.env.PATH, LOGS: dir },
        encoding: 'utf8',
      },
    );

  it('passes the exit code through and copies output to the log file and stdout', () => {
    const r = run('echo out; echo err >&2; exit 3');
    expect(r.status).toBe(3);
    expect(r.stdout).toContain('out');
    expect(r.stdout).toContain('err');
    const log = readFileSync(join(dir, 'algorithm.log'), 'utf8');
    expect(log).toContain('out');
    expect(log).toContain('err');
  });

  it('exits 0 on success', () => {
    expect(run('true').status).toBe(0);
  });

  it('keeps quoting of the entrypoint intact', () => {
    const r = run(`printf '%s|' "a b" 'c$d'`);
    expect(r.stdout).toContain('a b|c$d|');
  });
});

it('the wrapper is valid POSIX sh', () => {
  expect(() => execFileSync('/bin/sh', ['-n', '-c', ALGORITHM_WRAPPER])).not.toThrow();
});
