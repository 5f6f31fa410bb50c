/**
 * `npm run bench [-- name ...]`: runs every test/bench/*.bench.ts (or those whose name contains one of the given
 * words) one after the other, each in its own process so each starts and stops its own platform, streaming their
 * figures; then a summary. Exits non-zero when any bench failed. A `*.real-node.bench.ts` (Knative Serving on the node,
 * long) runs only when named.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const benchDir = dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);
const benches = readdirSync(benchDir)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => (filters.length === 0 ? !f.endsWith('.real-node.bench.ts') : filters.some((w) => f.includes(w))))
  .sort();
if (benches.length === 0) {
  console.error(`no bench in ${benchDir} matches ${filters.join(', ') || '*.bench.ts'}`);
  process.exit(1);
}

const outcomes: Array<{ bench: string; code: number | string; seconds: number }> = [];
for (const bench of benches) {
  console.log(`\n=== ${bench} ===`);
  const t0 = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', join(benchDir, bench)], {
    stdio: 'inherit',
    cwd: join(benchDir, '..', '..'),
  });
  const code = await new Promise<number | string>((resolve) => {
    child.once('exit', (c, signal) => resolve(c ?? signal ?? 'unknown'));
    child.once('error', (err) => resolve(`spawn error: ${err.message}`));
  });
  outcomes.push({ bench, code, seconds: (performance.now() - t0) / 1000 });
}

console.log('\n=== summary ===');
for (const o of outcomes)
  console.log(`${o.bench.padEnd(28)} ${o.code === 0 ? 'ok' : `FAILED (${o.code})`}  ${o.seconds.toFixed(0)} s`);
process.exitCode = outcomes.every((o) => o.code === 0) ? 0 : 1;
