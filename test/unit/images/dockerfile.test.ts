import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DockerfileError, parseDockerfile, type Instruction } from '../../../scripts/images/dockerfile.ts';

const root = join(import.meta.dirname, '../../..');
const DOCKERFILES = ['functions', 'engine', 'pod-programs'].map((n) => `docker/${n}.Dockerfile`);
const PROJECT_NODE = (
  JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }
).devDependencies.node;

function parse(text: string, buildArgs?: Record<string, string>) {
  return parseDockerfile(text, { file: 'test.Dockerfile', ...(buildArgs && { buildArgs }) });
}

function kinds(instructions: Instruction[]): string[] {
  return instructions.map((i) => i.kind);
}

describe('parseDockerfile', () => {
  it.each(DOCKERFILES)('parses %s: three stages on the pinned base image', (file) => {
    const df = parseDockerfile(readFileSync(join(root, file), 'utf8'), { file });
    expect(df.syntax).toBe('docker/dockerfile:1');
    expect(df.globalArgs.map((a) => a.name)).toEqual(['NODE_IMAGE']);
    expect(df.stages.map((s) => s.name)).toEqual(['build', 'deps', undefined]);
    // The project's own Node (package.json), which everything here is tested on.
    for (const s of df.stages) expect(s.image).toBe(`node:${PROJECT_NODE}-bookworm-slim`);
    const final = df.stages[2]!;
    expect(final.instructions.find((i) => i.kind === 'USER')).toMatchObject({ uid: 1000, gid: 1000 });
  });

  it('joins continuation lines, keeping the RUN text as written', () => {
    const df = parse(
      ['FROM node:x', 'RUN for p in a b; do \\', '      echo "$p" && \\', '      true; \\', '    done'].join('\n'),
    );
    expect(df.stages[0]!.instructions).toEqual([
      { kind: 'RUN', line: 2, command: 'for p in a b; do       echo "$p" &&       true;     done' },
    ]);
  });

  it('drops comments and blank lines, also inside a continuation', () => {
    const df = parse(
      [
        '# syntax=docker/dockerfile:1',
        '# a comment',
        '',
        'FROM node:x',
        'RUN a \\',
        '# inside',
        '',
        '  b',
        'WORKDIR /app',
      ].join('\n'),
    );
    expect(df.syntax).toBe('docker/dockerfile:1');
    expect(df.stages[0]!.instructions).toEqual([
      { kind: 'RUN', line: 5, command: 'a   b' },
      { kind: 'WORKDIR', line: 9, path: '/app' },
    ]);
  });

  it('substitutes global ARGs into FROM, with build-arg overrides', () => {
    const text = 'ARG BASE=node:20\nARG TAG\nFROM ${BASE} AS one\nFROM $BASE\n';
    expect(parse(text).stages.map((s) => [s.name, s.image])).toEqual([
      ['one', 'node:20'],
      [undefined, 'node:20'],
    ]);
    expect(parse(text, { BASE: 'node:22' }).stages[0]!.image).toBe('node:22');
    expect(() => parse('ARG TAG\nFROM node:${TAG}')).toThrow(/test\.Dockerfile:2: the global ARG TAG has no value/);
    expect(() => parse('FROM ${NOPE}')).toThrow(/test\.Dockerfile:1: \$\{NOPE\} names no global ARG/);
    expect(() => parse('ARG A=x\nFROM ${A:-y}')).toThrow(
      /test\.Dockerfile:2: the expansion \$\{A:-y\} is not supported/,
    );
  });

  it('reads COPY sources, destination and --from', () => {
    const df = parse('FROM node:x AS b\nFROM node:x\nCOPY a b ./\nCOPY --from=b /src/dist ./dist\nCOPY --from=0 /x y');
    expect(df.stages[1]!.instructions).toEqual([
      { kind: 'COPY', line: 3, from: undefined, sources: ['a', 'b'], dest: './' },
      { kind: 'COPY', line: 4, from: 'b', sources: ['/src/dist'], dest: './dist' },
      { kind: 'COPY', line: 5, from: '0', sources: ['/x'], dest: 'y' },
    ]);
  });

  it('reads ENV pairs, USER, EXPOSE, ENTRYPOINT and CMD', () => {
    const df = parse(
      [
        'FROM node:x',
        'ENV A=1 \\',
        '    B="two words" C=\'x y\'',
        'USER 1000:1001',
        'USER 5',
        'EXPOSE 8080 53/udp',
        'ENTRYPOINT ["node", "main.js"]',
        'CMD ["--flag"]',
      ].join('\n'),
    );
    const ins = df.stages[0]!.instructions;
    expect(kinds(ins)).toEqual(['ENV', 'USER', 'USER', 'EXPOSE', 'ENTRYPOINT', 'CMD']);
    expect(ins[0]).toMatchObject({
      vars: [
        ['A', '1'],
        ['B', 'two words'],
        ['C', 'x y'],
      ],
    });
    expect(ins[1]).toMatchObject({ uid: 1000, gid: 1001 });
    expect(ins[2]).toMatchObject({ uid: 5, gid: undefined });
    expect(ins[3]).toMatchObject({
      ports: [
        { port: 8080, protocol: 'tcp' },
        { port: 53, protocol: 'udp' },
      ],
    });
    expect(ins[4]).toMatchObject({ argv: ['node', 'main.js'] });
    expect(ins[5]).toMatchObject({ argv: ['--flag'] });
  });

  it.each([
    ['ADD', 'FROM node:x\nADD a.tar.gz /app', /test\.Dockerfile:2: ADD is not supported/],
    ['HEALTHCHECK', 'FROM node:x\n\nHEALTHCHECK CMD true', /test\.Dockerfile:3: HEALTHCHECK is not supported/],
    ['LABEL', 'FROM node:x\nLABEL a=b', /:2: LABEL is not supported/],
    ['ARG in a stage', 'FROM node:x\nARG X=1', /:2: ARG inside a stage/],
    ['COPY --chown', 'FROM node:x\nCOPY --chown=1:1 a b', /:2: the COPY flag --chown=1:1/],
    ['COPY from an image', 'FROM node:x\nCOPY --from=alpine /a b', /:2: COPY --from=alpine names no earlier stage/],
    ['COPY from a later stage', 'FROM node:x\nCOPY --from=later /a b\nFROM node:x AS later', /:2: COPY --from=later/],
    ['COPY wildcards', 'FROM node:x\nCOPY *.json ./', /:2: wildcards/],
    ['COPY variables', 'FROM node:x\nCOPY $A ./', /:2: variable substitution in COPY/],
    ['RUN exec form', 'FROM node:x\nRUN ["a"]', /:2: RUN in JSON/],
    ['RUN --mount', 'FROM node:x\nRUN --mount=type=cache,target=/x a', /:2: RUN flags/],
    ['RUN heredoc', 'FROM node:x\nRUN <<EOF', /:2: heredocs/],
    ['ENTRYPOINT shell form', 'FROM node:x\nENTRYPOINT node main.js', /:2: ENTRYPOINT must be in JSON/],
    ['CMD of numbers', 'FROM node:x\nCMD [1]', /:2: CMD must be a non-empty JSON array of strings/],
    ['USER by name', 'FROM node:x\nUSER node', /:2: USER must be a numeric uid/],
    ['legacy ENV', 'FROM node:x\nENV A 1', /:2: ENV must be NAME=value/],
    ['ENV with a variable', 'FROM node:x\nENV A=$B', /:2: variable substitution in ENV/],
    ['EXPOSE a range', 'FROM node:x\nEXPOSE 8000-8010', /:2: EXPOSE takes port/],
    ['FROM --platform', 'FROM --platform=linux/arm64 node:x', /:1: FROM flags/],
    ['an instruction before FROM', 'WORKDIR /app\nFROM node:x', /:1: WORKDIR before the first FROM/],
    ['no FROM', '# only a comment\n', /no FROM/],
    ['a dangling continuation', 'FROM node:x\nRUN a \\', /:2: the last instruction ends with a line continuation/],
    ['another escape character', '# escape=`\nFROM node:x', /:1: the escape directive/],
    ['duplicate stage names', 'FROM node:x AS a\nFROM node:x AS a', /:2: duplicate stage name a/],
  ])('refuses %s, naming the line', (_what, text, message) => {
    let error: unknown;
    try {
      parse(text);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(DockerfileError);
    expect((error as Error).message).toMatch(message);
  });
});
