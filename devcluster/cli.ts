/**
 * `npm run dev -- up`   builds what is missing, starts the local platform in the background, writes .dev/env
 * `npm run dev -- down` stops it
 * `npm run dev -- status`
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { missingBinaries } from './binaries.ts';
import type { PlatformEnv } from './platform-env.ts';
import { waitFor } from './processes.ts';

const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const stateDir = process.env.C2D_STATE_DIR ?? join(projectRoot, '.dev');
const pidFile = join(stateDir, 'supervisor.pid');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function runningPid(): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8'));
  return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
}

export function buildMissing(): void {
  const missing = missingBinaries();
  if (!missing.length) return;
  console.log(`building dev cluster binaries (${missing.join(', ')}); a cold build takes ~20 minutes on 2 cores`);
  const res = spawnSync('bash', [join(projectRoot, 'devcluster/build-binaries.sh')], { stdio: 'inherit' });
  if (res.status !== 0) throw new Error('building the dev cluster binaries failed (see above)');
}

async function up(): Promise<void> {
  const existing = runningPid();
  if (existing && existsSync(join(stateDir, 'env.json'))) {
    console.log(`platform already running (pid ${existing}); source ${join(stateDir, 'env')}`);
    return;
  }
  buildMissing();
  mkdirSync(join(stateDir, 'logs'), { recursive: true });
  const t0 = Date.now();
  const out = openSync(join(stateDir, 'logs', 'supervisor.log'), 'a');
  const child = spawn(process.execPath, ['--import', 'tsx', join(projectRoot, 'devcluster/supervisor.ts'), stateDir], {
    detached: true, stdio: ['ignore', out, out], cwd: projectRoot,
  });
  writeFileSync(pidFile, String(child.pid));
  child.unref();
  await waitFor('the platform', async () => {
    if (existsSync(join(stateDir, 'failed'))) throw new Error(readFileSync(join(stateDir, 'failed'), 'utf8'));
    if (!alive(child.pid!)) throw new Error(`supervisor exited; see ${join(stateDir, 'logs', 'supervisor.log')}`);
    return existsSync(join(stateDir, 'env.json'));
  }, 300_000, 100);
  const env = JSON.parse(readFileSync(join(stateDir, 'env.json'), 'utf8')) as PlatformEnv;
  console.log(`platform up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`  kube-apiserver  KUBECONFIG=${env.kubeconfig}`);
  console.log(`  chain           ${env.rpcUrl} (chain id ${env.chainId})`);
  console.log(`  object store    ${env.s3.endpoint} bucket ${env.s3.bucket}`);
  console.log(`  kn              ${env.kn}`);
  console.log(`source ${join(stateDir, 'env')} to use it; npm run dev -- down stops it`);
}

async function down(): Promise<void> {
  const pid = runningPid();
  if (!pid) {
    console.log('platform is not running');
    return;
  }
  process.kill(pid, 'SIGTERM');
  try {
    await waitFor('the platform to stop', async () => !alive(pid), 30_000, 100);
  } catch {
    process.kill(-pid, 'SIGKILL');
  }
  rmSync(pidFile, { force: true });
  console.log('platform stopped');
}

const command = process.argv[2];
const actions: Record<string, () => Promise<void>> = {
  up,
  down,
  status: async () => console.log(runningPid() ? `running (pid ${runningPid()}), env in ${join(stateDir, 'env')}` : 'not running'),
  build: async () => buildMissing(),
};
const action = command ? actions[command] : undefined;
if (!action) {
  console.error('usage: npm run dev -- up | down | status | build');
  process.exit(2);
}
action().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
