import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DockerIgnore } from '../../../scripts/images/dockerignore.ts';

describe('DockerIgnore', () => {
  it('excludes a listed path and everything under it, at the context root only', () => {
    const ig = new DockerIgnore('node_modules\n.git\n');
    expect(ig.excludes('node_modules')).toBe(true);
    expect(ig.excludes('node_modules/zod/package.json')).toBe(true);
    expect(ig.excludes('.git/HEAD')).toBe(true);
    expect(ig.excludes('lib/node_modules')).toBe(false);
    expect(ig.excludes('package.json')).toBe(false);
  });

  it('skips comments and blank lines; cleans leading / and ./', () => {
    const ig = new DockerIgnore('# dist is built\n\n/dist\n./.dev/\n');
    expect(ig.excludes('dist/lib/x.js')).toBe(true);
    expect(ig.excludes('.dev/env')).toBe(true);
    expect(ig.excludes('# dist is built')).toBe(false);
  });

  it('matches * and ? within one segment and ** across segments', () => {
    const ig = new DockerIgnore('*.log\nlib/*/tmp?\n**/coverage\ndocs/**/*.png\n');
    expect(ig.excludes('npm-debug.log')).toBe(true);
    expect(ig.excludes('lib/npm-debug.log')).toBe(false);
    expect(ig.excludes('lib/api/tmp1')).toBe(true);
    expect(ig.excludes('lib/api/deep/tmp1')).toBe(false);
    expect(ig.excludes('coverage/index.html')).toBe(true);
    expect(ig.excludes('a/b/coverage')).toBe(true);
    expect(ig.excludes('docs/a.png')).toBe(true);
    expect(ig.excludes('docs/x/y/a.png')).toBe(true);
    expect(ig.excludes('docs/a.md')).toBe(false);
  });

  it('lets a later ! exception re-include a path; the last matching rule wins', () => {
    const ig = new DockerIgnore('*.md\n!README.md\nREADME.md\n!docs\ndocs/secret.md\n');
    expect(ig.hasExceptions).toBe(true);
    expect(ig.excludes('CHANGES.md')).toBe(true);
    expect(ig.excludes('README.md')).toBe(true);
    expect(ig.excludes('docs/secret.md')).toBe(true);
    expect(new DockerIgnore('*.md\n!README.md').excludes('README.md')).toBe(false);
  });

  it('supports character classes and escapes', () => {
    const ig = new DockerIgnore('[ab].txt\n[!x]y\n\\*literal\n');
    expect(ig.excludes('a.txt')).toBe(true);
    expect(ig.excludes('c.txt')).toBe(false);
    expect(ig.excludes('zy')).toBe(true);
    expect(ig.excludes('xy')).toBe(false);
    expect(ig.excludes('*literal')).toBe(true);
    expect(ig.excludes('aliteral')).toBe(false);
  });

  it("keeps this repository's context small: no node_modules, dist, .dev or .git", () => {
    const ig = new DockerIgnore(readFileSync(join(import.meta.dirname, '../../../.dockerignore'), 'utf8'));
    for (const p of ['node_modules', 'dist', '.dev', '.git']) expect(ig.excludes(`${p}/x`), p).toBe(true);
    for (const p of [
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      'tsconfig.build.json',
      'lib/api/config.ts',
      'engine/main.ts',
      'functions/info/index.ts',
    ]) {
      expect(ig.excludes(p), p).toBe(false);
    }
  });
});
