import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * What an image build reads from the repository (`docker build .` as docs/deploy.md has it, `buildah bud` in
 * devcluster/real-node/build-project-images.sh): .dockerignore keeps the dev platform's state (`.dev`, whose env files
 * hold funded keys), git history, node_modules and build output out of the context, and the Dockerfiles copy named
 * sources only, never the whole context.
 */

const root = join(import.meta.dirname, '../../..');
const ignored = readFileSync(join(root, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));
const dockerfiles = readdirSync(join(root, 'docker')).filter((f) => f.endsWith('.Dockerfile'));

/** The sources of a Dockerfile's COPY and ADD lines that read the build context (not `--from` another stage). */
function contextSources(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter(([op]) => op === 'COPY' || op === 'ADD')
    .filter((words) => !words.some((w) => w.startsWith('--from')))
    .flatMap((words) => words.slice(1, -1).filter((w) => !w.startsWith('--')));
}

describe('the image build context', () => {
  it('leaves out .dev, .git, node_modules and dist, with no exception that could bring part of them back', () => {
    for (const p of ['.dev', '.git', 'node_modules', 'dist']) expect(ignored, p).toContain(p);
    expect(ignored.filter((l) => l.startsWith('!'))).toEqual([]);
  });

  it('is read by every Dockerfile through named sources that exist and are not left out', () => {
    expect(dockerfiles.sort()).toEqual(['engine.Dockerfile', 'functions.Dockerfile', 'pod-programs.Dockerfile']);
    for (const f of dockerfiles) {
      const sources = contextSources(readFileSync(join(root, 'docker', f), 'utf8'));
      expect(sources.length, f).toBeGreaterThan(0);
      for (const s of sources) {
        expect(s, `${f}: ${s}`).toMatch(/^[A-Za-z][\w./-]*$/);
        expect(existsSync(join(root, s)), `${f}: ${s}`).toBe(true);
        expect(ignored.includes(s.split('/')[0]!), `${f}: ${s}`).toBe(false);
      }
    }
  });

  it('finds the context sources of COPY lines, and not those copied from another stage', () => {
    expect(
      contextSources(
        'FROM x AS b\nCOPY package.json package-lock.json ./\nCOPY --chown=1:1 lib lib\nCOPY --from=b /src/dist ./dist\n',
      ),
    ).toEqual(['package.json', 'package-lock.json', 'lib']);
  });
});
