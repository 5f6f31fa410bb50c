import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IMAGES } from '../../scripts/images/probes.ts';
import { Replayer, type ReplayedImage } from '../../scripts/images/replay.ts';

/**
 * The three Dockerfiles replayed on this machine (scripts/images/replay.ts: the host's Node and Debian userland stand
 * in for the pinned base image; this is not an image build), and each final stage run as its USER with only its own
 * files in sight (scripts/images/probes.ts). It does not use the platform; it lives here because it is slow and
 * `npm ci` reaches the registry. The build and deps stages are the same in all three files and are replayed once.
 */

const root = join(import.meta.dirname, '../..');
const REPLAY_TIMEOUT = 600_000;
const CHECK_TIMEOUT = 120_000;
let replayer: Replayer;

beforeAll(async () => {
  replayer = await Replayer.create({ context: root });
});

afterAll(async () => {
  await replayer?.close();
});

for (const spec of IMAGES) {
  describe(spec.dockerfile, () => {
    let image: ReplayedImage;

    beforeAll(async () => {
      image = await replayer.replay(spec.dockerfile);
    }, REPLAY_TIMEOUT);

    for (const check of spec.checks) {
      it(
        check.name,
        async () => {
          expect(await check.run(replayer, image)).toBeTruthy();
        },
        CHECK_TIMEOUT,
      );
    }
  });
}

describe('the replay has teeth', () => {
  it(
    "a functions image holding a function's entry but not the bundle's shared chunks fails to load it",
    async () => {
      const text = readFileSync(join(root, 'docker/functions.Dockerfile'), 'utf8');
      const broken = text.replace(
        /^COPY --from=build \/src\/dist\/bundle\/functions \.\/dist\/functions\n/m,
        'COPY --from=build /src/dist/bundle/functions/info ./dist/functions/info\n',
      );
      expect(broken).not.toBe(text);
      const dir = mkdtempSync(join(tmpdir(), 'c2d-broken-dockerfile-'));
      try {
        writeFileSync(join(dir, 'functions.Dockerfile'), broken);
        const image = await replayer.replay(join(dir, 'functions.Dockerfile'));
        expect(image.stages.at(-1)?.reused).toBe(false);
        const info = IMAGES.find((i) => i.name === 'functions')?.checks.find((c) => c.name.startsWith('info:'));
        await expect(info?.run(replayer, image)).rejects.toThrow(/ERR_MODULE_NOT_FOUND|Cannot find module/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    REPLAY_TIMEOUT,
  );
});
