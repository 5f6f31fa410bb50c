/**
 * A parser for the subset of the Dockerfile language this repository's images use (docker/*.Dockerfile), so their
 * instructions can be replayed without a container engine (scripts/images/replay.ts). Pure: text in, a description
 * of the stages out. Anything outside the subset is an error naming the line, never skipped: a replay that ignored
 * an instruction would vouch for an image it did not build.
 *
 * The subset: a `# syntax=` directive; comments; backslash line continuations; global ARG (before the first FROM,
 * substituted as ${NAME} or $NAME into FROM); FROM image [AS name]; WORKDIR; COPY [--from=stage] src... dest;
 * RUN in shell form; ENV name=value...; USER uid[:gid] (numeric); EXPOSE; ENTRYPOINT and CMD in JSON form.
 */

export class DockerfileError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    message: string,
  ) {
    super(`${file}:${line}: ${message}`);
    this.name = 'DockerfileError';
  }
}

export interface GlobalArg {
  name: string;
  value: string | undefined;
  line: number;
}

export interface ExposedPort {
  port: number;
  protocol: 'tcp' | 'udp';
}

export type Instruction =
  | { kind: 'WORKDIR'; line: number; path: string }
  | { kind: 'COPY'; line: number; from: string | undefined; sources: string[]; dest: string }
  | { kind: 'RUN'; line: number; command: string }
  | { kind: 'ENV'; line: number; vars: [string, string][] }
  | { kind: 'USER'; line: number; uid: number; gid: number | undefined }
  | { kind: 'EXPOSE'; line: number; ports: ExposedPort[] }
  | { kind: 'ENTRYPOINT' | 'CMD'; line: number; argv: string[] };

export interface Stage {
  /** Position among the file's stages, from 0 (what `COPY --from=0` names). */
  index: number;
  name: string | undefined;
  /** The base image after ARG substitution. */
  image: string;
  line: number;
  instructions: Instruction[];
}

export interface Dockerfile {
  syntax: string | undefined;
  globalArgs: GlobalArg[];
  stages: Stage[];
}

export interface ParseOptions {
  /** Named in errors. */
  file?: string;
  /** `--build-arg NAME=value` overrides of global ARG defaults. */
  buildArgs?: Record<string, string>;
}

const SUPPORTED = 'ARG (global), FROM, WORKDIR, COPY, RUN, ENV, USER, EXPOSE, ENTRYPOINT, CMD';
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const STAGE_NAME = /^[a-z][a-z0-9._-]*$/;

interface LogicalLine {
  line: number;
  text: string;
}

/** Joins continuation lines and drops comments and blank lines; reads the parser directives at the top. */
function logicalLines(text: string, file: string): { syntax: string | undefined; lines: LogicalLine[] } {
  const physical = text.replace(/\r\n/g, '\n').split('\n');
  let syntax: string | undefined;
  let directivesOpen = true;
  const lines: LogicalLine[] = [];
  let current: LogicalLine | undefined;
  for (let i = 0; i < physical.length; i++) {
    const raw = physical[i] ?? '';
    const lineNo = i + 1;
    const trimmed = raw.trim();
    if (directivesOpen && current === undefined) {
      const directive = /^#\s*([a-zA-Z]+)\s*=\s*(.*?)\s*$/.exec(trimmed);
      if (directive) {
        const key = (directive[1] ?? '').toLowerCase();
        const value = directive[2] ?? '';
        if (key === 'syntax') {
          syntax = value;
          continue;
        }
        if (key === 'escape') {
          if (value !== '\\')
            throw new DockerfileError(
              file,
              lineNo,
              `the escape directive ${JSON.stringify(value)} is not supported (only \\)`,
            );
          continue;
        }
        if (key === 'check') continue;
      }
      directivesOpen = false;
    }
    // Comment lines are dropped, also between continuation lines; so are blank lines inside a continuation.
    if (trimmed.startsWith('#')) continue;
    if (trimmed === '') continue;
    const continued = /\\\s*$/.test(raw);
    const body = continued ? raw.replace(/\\\s*$/, '') : raw;
    if (current === undefined) current = { line: lineNo, text: body.replace(/^\s+/, '') };
    else current.text += body;
    if (!continued) {
      lines.push({ line: current.line, text: current.text.trimEnd() });
      current = undefined;
    }
  }
  if (current !== undefined)
    throw new DockerfileError(file, current.line, 'the last instruction ends with a line continuation');
  return { syntax, lines };
}

/** ${NAME} and $NAME from the global ARGs; any other expansion form is an error. */
function substitute(value: string, args: Map<string, string | undefined>, file: string, line: number): string {
  return value.replace(
    /\$(\{([^}]*)\}|[A-Za-z_][A-Za-z0-9_]*)|\$/g,
    (match, _whole: string | undefined, braced: string | undefined) => {
      if (match === '$')
        throw new DockerfileError(file, line, `a lone "$" in ${JSON.stringify(value)} is not supported`);
      const name = braced ?? match.slice(1);
      if (!NAME.test(name))
        throw new DockerfileError(file, line, `the expansion ${match} is not supported (only \${NAME} and $NAME)`);
      if (!args.has(name)) throw new DockerfileError(file, line, `${match} names no global ARG`);
      const v = args.get(name);
      if (v === undefined)
        throw new DockerfileError(file, line, `the global ARG ${name} has no value (give it a default or a build arg)`);
      return v;
    },
  );
}

function noVariables(kind: string, value: string, file: string, line: number): void {
  if (value.includes('$'))
    throw new DockerfileError(file, line, `variable substitution in ${kind} is not supported: ${value}`);
}

function jsonArray(kind: string, rest: string, file: string, line: number): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(rest);
  } catch {
    throw new DockerfileError(
      file,
      line,
      `${kind} must be in JSON (exec) form, like ["node", "main.js"]; the shell form is not supported`,
    );
  }
  if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((a): a is string => typeof a === 'string')) {
    throw new DockerfileError(file, line, `${kind} must be a non-empty JSON array of strings`);
  }
  return parsed;
}

/** ENV's name=value pairs; values may be double- or single-quoted, with \-escapes outside single quotes. */
function envPairs(rest: string, file: string, line: number): [string, string][] {
  const pairs: [string, string][] = [];
  let i = 0;
  const s = rest;
  while (i < s.length) {
    while (i < s.length && /\s/.test(s[i] ?? '')) i++;
    if (i >= s.length) break;
    const nameEnd = s.indexOf('=', i);
    const name = nameEnd === -1 ? '' : s.slice(i, nameEnd);
    if (nameEnd === -1 || !NAME.test(name)) {
      throw new DockerfileError(
        file,
        line,
        'ENV must be NAME=value pairs (the legacy "ENV NAME value" form is not supported)',
      );
    }
    i = nameEnd + 1;
    let value = '';
    while (i < s.length && !/\s/.test(s[i] ?? '')) {
      const c = s[i] ?? '';
      if (c === '"' || c === "'") {
        const close = c;
        i++;
        while (i < s.length && s[i] !== close) {
          if (close === '"' && s[i] === '\\' && i + 1 < s.length) i++;
          value += s[i];
          i++;
        }
        if (i >= s.length) throw new DockerfileError(file, line, `unterminated ${close} quote in ENV`);
        i++;
      } else if (c === '\\' && i + 1 < s.length) {
        value += s[i + 1];
        i += 2;
      } else {
        value += c;
        i++;
      }
    }
    if (value.includes('$'))
      throw new DockerfileError(file, line, `variable substitution in ENV is not supported: ${name}=${value}`);
    pairs.push([name, value]);
  }
  if (pairs.length === 0) throw new DockerfileError(file, line, 'ENV sets nothing');
  return pairs;
}

/** Parses a Dockerfile of the supported subset; throws DockerfileError naming the line of anything else. */
export function parseDockerfile(text: string, options: ParseOptions = {}): Dockerfile {
  const file = options.file ?? 'Dockerfile';
  const { syntax, lines } = logicalLines(text, file);
  const globalArgs: GlobalArg[] = [];
  const argValues = new Map<string, string | undefined>();
  const stages: Stage[] = [];
  let stage: Stage | undefined;

  for (const { line, text: logical } of lines) {
    const m = /^(\S+)(?:\s+([\s\S]*))?$/.exec(logical);
    const keyword = (m?.[1] ?? '').toUpperCase();
    const rest = (m?.[2] ?? '').trim();
    if (keyword !== 'FROM' && keyword !== 'ARG' && stage === undefined) {
      throw new DockerfileError(file, line, `${keyword} before the first FROM`);
    }
    if (rest === '' && keyword !== 'RUN') throw new DockerfileError(file, line, `${keyword} needs arguments`);

    switch (keyword) {
      case 'ARG': {
        if (stage !== undefined)
          throw new DockerfileError(
            file,
            line,
            'ARG inside a stage is not supported (only global ARGs before the first FROM)',
          );
        const a = /^([A-Za-z_][A-Za-z0-9_]*)(?:=(\S*))?$/.exec(rest);
        if (!a) throw new DockerfileError(file, line, `ARG must be NAME or NAME=value: ${rest}`);
        const name = a[1] ?? '';
        const value = options.buildArgs?.[name] ?? a[2];
        if (value?.includes('$'))
          throw new DockerfileError(file, line, `variable substitution in ARG is not supported: ${rest}`);
        globalArgs.push({ name, value, line });
        argValues.set(name, value);
        break;
      }
      case 'FROM': {
        const words = rest.split(/\s+/);
        if (words.some((w) => w.startsWith('--')))
          throw new DockerfileError(file, line, `FROM flags are not supported: ${rest}`);
        let name: string | undefined;
        if (words.length === 3 && words[1]?.toUpperCase() === 'AS') {
          name = words[2]?.toLowerCase();
          if (!name || !STAGE_NAME.test(name))
            throw new DockerfileError(file, line, `invalid stage name ${JSON.stringify(words[2])}`);
          if (stages.some((s) => s.name === name))
            throw new DockerfileError(file, line, `duplicate stage name ${name}`);
        } else if (words.length !== 1) {
          throw new DockerfileError(file, line, `FROM must be "FROM image [AS name]": ${rest}`);
        }
        const image = substitute(words[0] ?? '', argValues, file, line);
        if (image === '' || /\s/.test(image)) throw new DockerfileError(file, line, `FROM names no image: ${rest}`);
        stage = { index: stages.length, name, image, line, instructions: [] };
        stages.push(stage);
        break;
      }
      case 'WORKDIR':
        noVariables('WORKDIR', rest, file, line);
        stage?.instructions.push({ kind: 'WORKDIR', line, path: rest });
        break;
      case 'COPY': {
        if (rest.startsWith('[')) throw new DockerfileError(file, line, 'COPY in JSON form is not supported');
        noVariables('COPY', rest, file, line);
        const words = rest.split(/\s+/);
        let from: string | undefined;
        while (words[0]?.startsWith('--')) {
          const flag = words.shift() ?? '';
          const f = /^--from=(\S+)$/.exec(flag);
          if (!f) throw new DockerfileError(file, line, `the COPY flag ${flag} is not supported (only --from=stage)`);
          from = f[1]?.toLowerCase();
          const known = stages.slice(0, -1).some((s) => s.name === from || String(s.index) === from);
          if (!known)
            throw new DockerfileError(
              file,
              line,
              `COPY --from=${from} names no earlier stage (copying from an image is not supported)`,
            );
        }
        if (words.length < 2) throw new DockerfileError(file, line, 'COPY needs at least one source and a destination');
        const dest = words.pop() ?? '';
        for (const src of words) {
          if (/[*?[\]]/.test(src))
            throw new DockerfileError(file, line, `wildcards in COPY sources are not supported: ${src}`);
        }
        stage?.instructions.push({ kind: 'COPY', line, from, sources: words, dest });
        break;
      }
      case 'RUN': {
        if (rest === '') throw new DockerfileError(file, line, 'RUN needs a command');
        if (rest.startsWith('['))
          throw new DockerfileError(file, line, 'RUN in JSON (exec) form is not supported; use the shell form');
        if (rest.startsWith('--'))
          throw new DockerfileError(file, line, `RUN flags are not supported: ${rest.split(/\s/)[0]}`);
        if (/<<-?\s*["']?[A-Za-z_]/.test(rest))
          throw new DockerfileError(file, line, 'heredocs in RUN are not supported');
        stage?.instructions.push({ kind: 'RUN', line, command: rest });
        break;
      }
      case 'ENV':
        stage?.instructions.push({ kind: 'ENV', line, vars: envPairs(rest, file, line) });
        break;
      case 'USER': {
        const u = /^(\d+)(?::(\d+))?$/.exec(rest);
        if (!u)
          throw new DockerfileError(
            file,
            line,
            `USER must be a numeric uid[:gid] (the replay has no image /etc/passwd to look names up in): ${rest}`,
          );
        stage?.instructions.push({
          kind: 'USER',
          line,
          uid: Number(u[1]),
          gid: u[2] === undefined ? undefined : Number(u[2]),
        });
        break;
      }
      case 'EXPOSE': {
        noVariables('EXPOSE', rest, file, line);
        const ports = rest.split(/\s+/).map((p): ExposedPort => {
          const e = /^(\d+)(?:\/(tcp|udp))?$/i.exec(p);
          const port = Number(e?.[1]);
          if (!e || port < 1 || port > 65535)
            throw new DockerfileError(file, line, `EXPOSE takes port[/tcp|/udp], not ${p}`);
          return { port, protocol: (e[2]?.toLowerCase() ?? 'tcp') as 'tcp' | 'udp' };
        });
        stage?.instructions.push({ kind: 'EXPOSE', line, ports });
        break;
      }
      case 'ENTRYPOINT':
      case 'CMD':
        stage?.instructions.push({ kind: keyword, line, argv: jsonArray(keyword, rest, file, line) });
        break;
      default:
        throw new DockerfileError(file, line, `${keyword} is not supported by the replay (supported: ${SUPPORTED})`);
    }
  }
  if (stages.length === 0) throw new DockerfileError(file, 1, 'no FROM');
  return { syntax, globalArgs, stages };
}
