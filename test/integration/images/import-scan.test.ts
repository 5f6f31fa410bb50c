import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { IMPORT_SCAN_SOURCE } from '../../../scripts/images/probes.ts';

describe('the import scan run inside each image', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('finds static, re-exported and dynamic imports, and reports the ones that do not resolve', () => {
    const app = mkdtempSync(join(tmpdir(), 'import-scan-'));
    dirs.push(app);
    mkdirSync(join(app, 'dist/lib'), { recursive: true });
    writeFileSync(join(app, 'package.json'), '{"type":"module"}');
    writeFileSync(
      join(app, 'dist/lib/a.js'),
      "import {\n  x,\n} from './b.js';\nexport * from './gone.js';\nimport 'node:fs';\nconst m = () => import('no-such-package');\n",
    );
    writeFileSync(
      join(app, 'dist/lib/b.js'),
      "export const x = 1; // data comes from 'nowhere', a comment, not an import\n * import 'neither'\n",
    );
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', IMPORT_SCAN_SOURCE, join(app, 'dist')], {
      cwd: app,
      encoding: 'utf8',
    });
    const result = JSON.parse(out) as { files: number; imports: number; packages: string[]; bad: string[] };
    expect(result.files).toBe(2);
    expect(result.imports).toBe(4);
    expect(result.bad.map((b) => b.replace(`${app}/dist/lib/`, ''))).toEqual([
      'a.js: ./gone.js: ENOENT',
      'a.js: no-such-package: ERR_MODULE_NOT_FOUND',
    ]);
  });
});
