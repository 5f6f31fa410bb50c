import { join } from 'node:path';
import { IMAGES } from './probes.ts';
import { Replayer } from './replay.ts';

/**
 * `npm run check:images [-- functions engine pod-programs]`: replays each Dockerfile in docker/ on this machine (no
 * container engine: the host's Node and Debian userland stand in for the pinned base image, see replay.ts) and runs
 * each image's checks (probes.ts) against its final stage. Exits non-zero if a replay or a check fails.
 *
 * This is a replay of the instructions, not an image build: it proves the instructions produce a final stage whose
 * own files are enough to run each program, not what the base image contains or that a registry serves its digest.
 */

const root = join(import.meta.dirname, '../..');
const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !IMAGES.some((i) => i.name === w));
if (unknown.length) {
  console.error(`unknown image ${unknown.join(', ')}; known: ${IMAGES.map((i) => i.name).join(', ')}`);
  process.exit(2);
}
const images = wanted.length ? IMAGES.filter((i) => wanted.includes(i.name)) : IMAGES;

const started = Date.now();
const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const replayer = await Replayer.create({ context: root, log: (line) => console.log(`  ${line}`) });
let failures = 0;
const stop = (): void => {
  void replayer.close().finally(() => process.exit(130));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);

console.log('Dockerfile replay: the host stands in for the base image; this is not an image build.');
try {
  for (const spec of images) {
    console.log(`\n${spec.dockerfile}`);
    let image;
    try {
      image = await replayer.replay(spec.dockerfile);
    } catch (err) {
      failures++;
      console.log(`FAIL replay: ${(err as Error).message}`);
      continue;
    }
    for (const s of image.stages) if (!s.reused) console.log(`  ${s.label}: ${secs(s.ms)}`);
    console.log(`  replayed in ${secs(image.ms)} (base ${image.baseImage})`);
    for (const check of spec.checks) {
      const t0 = Date.now();
      try {
        const detail = await check.run(replayer, image);
        console.log(`ok   ${check.name} (${secs(Date.now() - t0)}): ${detail}`);
      } catch (err) {
        failures++;
        console.log(`FAIL ${check.name} (${secs(Date.now() - t0)}): ${(err as Error).message}`);
      }
    }
  }
} finally {
  await replayer.close();
}
console.log(`\n${failures ? `${failures} failed` : 'all passed'} in ${secs(Date.now() - started)}`);
process.exitCode = failures ? 1 : 0;
