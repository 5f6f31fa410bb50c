/**
 * Keeps one platform instance running until SIGTERM: started by `npm run dev -- up` in the background.
 * It writes STATE_DIR/env (shell) and STATE_DIR/env.json once everything is ready, or STATE_DIR/failed.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseUpArgs } from './up-args.ts';
import { startPlatform, writeEnvFiles } from './platform.ts';
import { toShellEnv } from './platform-env.ts';

const [stateDir, ...flags] = process.argv.slice(2);
const parsed = parseUpArgs(flags);
if (!stateDir || !parsed) {
  console.error('usage: supervisor.ts STATE_DIR [--nodes N]');
  process.exit(2);
}
for (const f of ['env', 'env.json', 'failed']) rmSync(join(stateDir, f), { force: true });
const say = (m: string): void => console.log(`[${new Date().toISOString()}] ${m}`);

try {
  const platform = await startPlatform(stateDir, say, parsed);
  writeEnvFiles(platform.env, toShellEnv);
  say('platform ready');
  let stopping = false;
  const shutdown = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    say('stopping');
    await platform.stop();
    for (const f of ['env', 'env.json']) rmSync(join(stateDir, f), { force: true });
    say('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown());
  process.on('SIGINT', () => void shutdown());
} catch (err) {
  const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
  writeFileSync(join(stateDir, 'failed'), message);
  say(`platform failed: ${message}`);
  process.exit(1);
}
