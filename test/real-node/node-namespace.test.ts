/**
 * The node's namespace goes when the platform stops, even after a Ctrl-C in a terminal took its holder down with the
 * process group: containerd's shims run in sessions of their own, keep the namespace (and its link to the host)
 * alive, and must be found by the namespace's id.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { waitFor } from '../../devcluster/processes.ts';
import { createNodeNamespace } from '../../devcluster/real-node/node-namespace.ts';

it('removes a process of its own session from the node namespace, and the link, after the holder died of SIGINT', async () => {
  if (process.getuid?.() !== 0) throw new Error('the node namespace needs root');
  const dir = mkdtempSync(join(tmpdir(), 'c2d-ns-'));
  try {
    const ns = await createNodeNamespace(dir, randomId());
    const [cmd, ...args] = ns.enter(['setsid', 'sleep', '120']);
    const shim = spawn(cmd!, args, { detached: true, stdio: 'ignore' });
    const exited = new Promise((r) => shim.once('exit', r));
    await new Promise((r) => setTimeout(r, 300));
    process.kill(ns.holderPid, 'SIGINT');
    await waitFor(
      'the holder to be gone',
      async () => {
        try {
          readlinkSync(`/proc/${ns.holderPid}/ns/net`);
          return false;
        } catch {
          return true;
        }
      },
      5_000,
      20,
    );
    await ns.stop();
    await exited;
    expect(execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' })).not.toContain(ns.hostLink);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);

function randomId(): string {
  return Math.random().toString(16).slice(2, 12).padEnd(10, '0');
}
