import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { missingBinaries, nodeBinaryPaths } from './binaries.ts';
import type { PlatformEnv } from './platform-env.ts';
import { sweepStaleInstances } from './real-node/instances.ts';
import { waitFor } from './processes.ts';

/** The developer's long-lived platform instance: one supervisor process in the background, state in `.dev/`. */
const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
export const devStateDir = process.env.C2D_STATE_DIR ?? join(projectRoot, '.dev');
const pidFile = join(devStateDir, 'supervisor.pid');
const envFile = join(devStateDir, 'env.json');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function runningPid(): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8'));
  return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
}

/**
 * Builds any binary not in the cache yet, the control plane's and the node's, printing the build's progress. (The
 * node's images are built, unless cached, when the platform starts: real-node/images.ts.)
 */
export function buildMissingBinaries(): void {
  const sets: [string, string[]][] = [
    ['all', missingBinaries()],
    ['real-node', missingBinaries(nodeBinaryPaths())],
  ];
  for (const [set, missing] of sets) {
    if (!missing.length) continue;
    console.log(
      `building dev cluster binaries (${missing.join(', ')}); a cold build takes ~20 minutes on 2 cores, once`,
    );
    const res = spawnSync('bash', [join(projectRoot, 'devcluster/build-binaries.sh'), set], { stdio: 'inherit' });
    if (res.status !== 0) throw new Error('building the dev cluster binaries failed (see above)');
  }
}

/** Starts the platform in the background unless it already runs; resolves with its env. */
export async function ensurePlatformUp(report: (m: string) => void = console.log, nodes = 1): Promise<PlatformEnv> {
  if (runningPid() && existsSync(envFile)) return JSON.parse(readFileSync(envFile, 'utf8')) as PlatformEnv;
  buildMissingBinaries();
  mkdirSync(join(devStateDir, 'logs'), { recursive: true });
  const t0 = Date.now();
  const out = openSync(join(devStateDir, 'logs', 'supervisor.log'), 'a');
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(projectRoot, 'devcluster/supervisor.ts'), devStateDir, '--nodes', String(nodes)],
    {
      detached: true,
      stdio: ['ignore', out, out],
      cwd: projectRoot,
    },
  );
  writeFileSync(pidFile, String(child.pid));
  child.unref();
  await waitFor(
    'the platform',
    async () => {
      if (existsSync(join(devStateDir, 'failed'))) throw new Error(readFileSync(join(devStateDir, 'failed'), 'utf8'));
      if (!alive(child.pid!)) throw new Error(`supervisor exited; see ${join(devStateDir, 'logs', 'supervisor.log')}`);
      return existsSync(envFile);
    },
    // A cold start builds the node's images first (minutes on 2 cores).
    900_000,
    100,
  );
  report(`platform up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return JSON.parse(readFileSync(envFile, 'utf8')) as PlatformEnv;
}

export async function stopPlatform(): Promise<boolean> {
  const pid = runningPid();
  if (pid) {
    process.kill(pid, 'SIGTERM');
    try {
      await waitFor('the platform to stop', async () => !alive(pid), 30_000, 100);
    } catch {
      process.kill(-pid, 'SIGKILL');
    }
    rmSync(pidFile, { force: true });
  }
  // A real node whose platform was killed (here, or earlier by SIGKILL) stops nothing itself: its record says what to end.
  await sweepStaleInstances(console.log);
  return Boolean(pid);
}
