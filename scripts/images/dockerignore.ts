/**
 * .dockerignore as Docker reads it (moby/patternmatcher): one pattern per line, `#` comments, `!` exceptions, paths
 * relative to the context root, `*` and `?` within one path segment, `**` across any number of segments, `[...]`
 * classes and `\` escapes. A path is excluded when the last pattern that matches it, or one of its parent
 * directories, is not an exception. Pure; used by the Dockerfile replay (scripts/images/replay.ts).
 */

interface Rule {
  pattern: string;
  exception: boolean;
  regex: RegExp;
}

export class DockerIgnore {
  readonly #rules: Rule[];

  constructor(text: string) {
    this.#rules = [];
    for (const raw of text.replace(/\r\n/g, '\n').split('\n')) {
      let line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      const exception = line.startsWith('!');
      if (exception) line = line.slice(1).trim();
      const pattern = cleanPattern(line);
      if (pattern === '') continue;
      this.#rules.push({ pattern, exception, regex: patternRegex(pattern) });
    }
  }

  /** Whether some rule can re-include a path below an excluded directory (then the directory must still be walked). */
  get hasExceptions(): boolean {
    return this.#rules.some((r) => r.exception);
  }

  /** Whether `path` (relative to the context root, `/`-separated) is left out of the build context. */
  excludes(path: string): boolean {
    const clean = cleanPattern(path);
    if (clean === '' || clean === '.') return false;
    const parts = clean.split('/');
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const rule of this.#rules) {
      if (prefixes.some((p) => rule.regex.test(p))) excluded = !rule.exception;
    }
    return excluded;
  }
}

/** filepath.Clean, then relative to the root: no leading `/` or `./`, no empty or `.` segments, `..` resolved. */
function cleanPattern(p: string): string {
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return out.join('/');
}

function patternRegex(pattern: string): RegExp {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] ?? '';
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        i++;
        // `**/` matches zero or more whole directories; a trailing or inner `**` matches anything.
        if (pattern[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else {
          re += '.*';
        }
      } else {
        re += '[^/]*';
      }
    } else if (c === '?') {
      re += '[^/]';
    } else if (c === '[') {
      const close = pattern.indexOf(']', i + 2);
      if (close === -1) {
        re += '\\[';
      } else {
        let body = pattern.slice(i + 1, close);
        if (body.startsWith('!') || body.startsWith('^')) body = '^' + body.slice(1);
        re += `[${body.replace(/\\/g, '\\\\')}]`;
        i = close;
      }
    } else if (c === '\\' && i + 1 < pattern.length) {
      i++;
      re += escapeRegex(pattern[i] ?? '');
    } else {
      re += escapeRegex(c);
    }
  }
  return new RegExp(re + '$');
}

function escapeRegex(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? `\\${c}` : c;
}
