import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, readFileSync } from 'node:fs';
import {
  chmod,
  chown,
  copyFile,
  link,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  readlink,
  realpath,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { isAbsolute, join, posix, relative, resolve, sep } from 'node:path';
import { parseDockerfile, type ExposedPort, type Instruction, type Stage } from './dockerfile.ts';
import { DockerIgnore } from './dockerignore.ts';

/**
 * Replays a Dockerfile's instructions on this machine, stage by stage, without a container engine: the host's Debian
 * userland and Node stand in for the base image (which must name the host's Node version and Debian release), each
 * stage gets its own directories for the paths it writes, RUN steps execute under bwrap, and the final stage's files
 * can then be run as the image's USER with nothing else of this repository visible.
 *
 * It is not an image build: the base image's own files, its npm version, other architectures, layer ownership
 * metadata and the registry digest are not checked (scripts/images/probes.ts says what is).
 */

/** Host directories that stand in for the base image, read-only in every sandbox. */
const HOST_SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64'];
/** /etc is exposed file by file (never shadow, keys or host-specific configuration). */
const HOST_ETC = [
  '/etc/alternatives',
  '/etc/ssl',
  '/etc/ca-certificates',
  '/etc/passwd',
  '/etc/group',
  '/etc/nsswitch.conf',
  '/etc/hosts',
  '/etc/resolv.conf',
  '/etc/localtime',
  '/etc/ld.so.cache',
  '/etc/ld.so.conf',
  '/etc/ld.so.conf.d',
  '/etc/os-release',
  '/etc/debian_version',
];
/** Top-level paths a stage cannot write under: they are the host's, shared read-only, or the kernel's. */
const UNTRACKABLE = new Set(['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/etc', '/proc', '/dev', '/sys']);

/**
 * The parts of the node:*-bookworm-slim image a stage may write to or that differ from this host, modelled: its
 * /usr/local (where the image keeps node; here it starts empty but for the mount point of the Node running the replay,
 * bound at /usr/local/bin/node, see `SandboxSpec.node`), root's home, the `node` user's home (uid 1000) and /tmp.
 */
const STAGE_BASE_DIRS: {
  path: string;
  mode: number;
  children?: { name: string; mode: number; owner?: [number, number] }[];
}[] = [
  {
    path: '/usr/local',
    mode: 0o755,
    children: ['bin', 'etc', 'include', 'lib', 'sbin', 'share', 'src'].map((name) => ({ name, mode: 0o755 })),
  },
  { path: '/root', mode: 0o700 },
  { path: '/home', mode: 0o755, children: [{ name: 'node', mode: 0o755, owner: [1000, 1000] }] },
  { path: '/tmp', mode: 0o1777 },
];
const BASE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Home directories of the base image's users (its /etc/passwd: root and node). */
const BASE_HOMES: Record<number, string> = { 0: '/root', 1000: '/home/node' };
const BASE_ENTRYPOINT = ['docker-entrypoint.sh'];
const BASE_CMD = ['node'];

export interface ImageConfig {
  env: Record<string, string>;
  workdir: string;
  user: { uid: number; gid: number };
  entrypoint: string[];
  cmd: string[];
  exposed: ExposedPort[];
}

export interface StepTiming {
  line: number;
  instruction: string;
  ms: number;
}

interface BuiltStage {
  key: string;
  label: string;
  /** Virtual absolute directory → the host directory holding it. */
  mounts: Map<string, string>;
  config: ImageConfig;
  steps: StepTiming[];
  ms: number;
}

export interface StageReport {
  label: string;
  key: string;
  /** Built earlier in this run with identical instructions and inputs, and reused. */
  reused: boolean;
  ms: number;
  steps: StepTiming[];
}

export interface ReplayedImage {
  dockerfile: string;
  baseImage: string;
  stages: StageReport[];
  config: ImageConfig;
  /** The final stage's directories: virtual path → host path. */
  mounts: Map<string, string>;
  ms: number;
}

export interface ReplayerOptions {
  /** The build context (the repository root). */
  context: string;
  /** `--build-arg` overrides of global ARGs. */
  buildArgs?: Record<string, string>;
  /** A host npm cache (_cacache) each stage's /root/.npm starts from, to spare the registry; null for none. */
  npmCache?: string | null;
  log?: (line: string) => void;
}

export class ReplayError extends Error {
  override name = 'ReplayError';
}

/** Which host image the replay stands in for: node:<host node version>-<host Debian codename>[-slim][@digest]. */
export function standIn(image: string): { version: string; codename: string; digest: string | undefined } {
  const m = /^(?:(?:docker\.io\/)?library\/)?node:(\d+\.\d+\.\d+)-([a-z]+)(?:-slim)?(?:@(sha256:[0-9a-f]{64}))?$/.exec(
    image,
  );
  if (!m)
    throw new ReplayError(
      `the host cannot stand in for ${image}: only node:<version>-<debian release>[-slim] images are modelled`,
    );
  const [, version = '', codename = '', digest] = m;
  if (version !== process.versions.node) {
    throw new ReplayError(
      `the host cannot stand in for ${image}: it runs node ${process.versions.node}, the image node ${version}`,
    );
  }
  const hostCodename = /^VERSION_CODENAME=(.*)$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1]?.replace(/"/g, '');
  if (hostCodename !== codename) {
    throw new ReplayError(
      `the host cannot stand in for ${image}: it runs Debian ${hostCodename ?? '(unknown)'}, the image ${codename}`,
    );
  }
  return { version, codename, digest };
}

/** A virtual absolute path, refusing `..` (never resolved silently, so a COPY cannot climb out). */
function virtualPath(base: string, p: string, what: string): string {
  if (p.split('/').includes('..')) throw new ReplayError(`${what} ${JSON.stringify(p)}: ".." is refused`);
  return posix.resolve(base, p);
}

function within(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel !== '..' && !rel.startsWith('..' + sep) && !isAbsolute(rel);
}

/** The mount holding a virtual path, and the host path for it; undefined when no mount holds it. */
function locate(mounts: Map<string, string>, v: string): { mount: string; host: string } | undefined {
  let best: string | undefined;
  for (const m of mounts.keys()) {
    if ((v === m || v.startsWith(m + '/')) && (best === undefined || m.length > best.length)) best = m;
  }
  if (best === undefined) return undefined;
  const root = mounts.get(best) ?? '';
  const host = join(root, v.slice(best.length));
  if (!within(root, host)) throw new ReplayError(`${v} resolves outside its stage directory`);
  return { mount: best, host };
}

/** Refuses a host path inside a stage directory that passes through a symlink (a RUN could plant one). */
async function assertNoSymlinks(root: string, host: string, v: string): Promise<void> {
  let cur = root;
  for (const part of relative(root, host).split(sep).filter(Boolean)) {
    cur = join(cur, part);
    const st = await lstat(cur).catch(() => undefined);
    if (!st) return;
    if (st.isSymbolicLink())
      throw new ReplayError(`${v} passes through a symlink in the stage; the replay does not follow it`);
  }
}

async function mkdirMode(dir: string, mode: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  await chmod(dir, mode);
}

function runLogged(
  cmd: string,
  args: string[],
  children: Set<ChildProcess>,
  logFile?: string,
): Promise<{ code: number; output: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    const log = logFile ? createWriteStream(logFile) : undefined;
    let tail = '';
    const onData = (b: Buffer): void => {
      log?.write(b);
      tail = (tail + b.toString('utf8')).slice(-8000);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('error', (err) => {
      children.delete(child);
      log?.end();
      reject(err);
    });
    child.once('close', (code, signal) => {
      children.delete(child);
      log?.end();
      resolvePromise({ code: code ?? (signal ? 128 : 1), output: tail });
    });
  });
}

function lastLines(text: string, n: number): string {
  return text.trimEnd().split('\n').slice(-n).join('\n');
}

function describeInstruction(i: Instruction): string {
  switch (i.kind) {
    case 'RUN':
      return `RUN ${i.command.replace(/\s+/g, ' ').slice(0, 80)}`;
    case 'COPY':
      return `COPY ${i.from ? `--from=${i.from} ` : ''}${i.sources.join(' ')} ${i.dest}`;
    case 'WORKDIR':
      return `WORKDIR ${i.path}`;
    case 'ENV':
      return `ENV ${i.vars.map(([k, v]) => `${k}=${v}`).join(' ')}`;
    case 'USER':
      return `USER ${i.uid}${i.gid === undefined ? '' : `:${i.gid}`}`;
    case 'EXPOSE':
      return `EXPOSE ${i.ports.map((p) => `${p.port}/${p.protocol}`).join(' ')}`;
    case 'ENTRYPOINT':
    case 'CMD':
      return `${i.kind} ${JSON.stringify(i.argv)}`;
  }
}

export interface SandboxSpec {
  mounts: Map<string, string>;
  /**
   * The Node standing in for the image's, bound read-only at /usr/local/bin/node where the image keeps it: the one
   * running the replay, whose version `standIn` compared with the image's (the machine's /usr/bin/node may differ).
   */
  node: string;
  /** Stage directories writable (by file ownership) or read-only. */
  writable: boolean;
  extraBinds?: { host: string; path: string; writable: boolean }[];
  uid: number;
  gid: number;
  network: boolean;
  workdir: string;
  env: Record<string, string>;
  argv: string[];
  /** Run the command as PID 1 of its PID namespace, as a container's entrypoint is. */
  asPid1?: boolean;
  infoFd?: number;
}

/**
 * The command line for one sandbox: [program, ...args]. A non-root uid runs bwrap as that real uid (setpriv), so the
 * files the stages wrote as root are read-only to it as they are to a container's USER; root runs bwrap directly
 * in a user namespace mapping 0 to 0.
 */
export function sandboxCommand(spec: SandboxSpec): [string, string[]] {
  const args: string[] = [];
  if (spec.infoFd !== undefined) args.push('--info-fd', String(spec.infoFd));
  args.push(
    '--die-with-parent',
    '--new-session',
    '--unshare-user',
    '--uid',
    String(spec.uid),
    '--gid',
    String(spec.gid),
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-cgroup-try',
    '--hostname',
    'replay',
  );
  if (!spec.network) args.push('--unshare-net');
  if (spec.asPid1) args.push('--as-pid-1');
  for (const dir of HOST_SYSTEM_DIRS) args.push('--ro-bind-try', dir, dir);
  for (const file of HOST_ETC) args.push('--ro-bind-try', file, file);
  args.push('--proc', '/proc', '--dev', '/dev');
  const mounts = [...spec.mounts.entries()].sort(([a], [b]) => a.length - b.length);
  for (const [path, host] of mounts) args.push(spec.writable ? '--bind' : '--ro-bind', host, path);
  args.push('--ro-bind', spec.node, '/usr/local/bin/node');
  for (const b of spec.extraBinds ?? []) args.push(b.writable ? '--bind' : '--ro-bind', b.host, b.path);
  // Nothing outside the stage's directories is writable: a write elsewhere fails loudly instead of vanishing.
  args.push('--remount-ro', '/', '--chdir', spec.workdir, '--clearenv');
  for (const [k, v] of Object.entries(spec.env)) args.push('--setenv', k, v);
  args.push('--', ...spec.argv);
  if (spec.uid === 0) return ['bwrap', args];
  return [
    'setpriv',
    ['--reuid', String(spec.uid), '--regid', String(spec.gid), '--clear-groups', '--', 'bwrap', ...args],
  ];
}

function baseEnv(config: ImageConfig, version: string): Record<string, string> {
  return {
    PATH: BASE_PATH,
    NODE_VERSION: version,
    HOSTNAME: 'replay',
    HOME: BASE_HOMES[config.user.uid] ?? '/',
    ...config.env,
  };
}

export interface Volume {
  /** Where it is mounted in the container. */
  path: string;
  /** Files to put in it: name → content. */
  files?: Record<string, string>;
  writable?: boolean;
  /** Owner of the volume's directory and files (root when unset). */
  uid?: number;
  gid?: number;
}

export interface RunOptions {
  /** Like `docker run -e`. */
  env?: Record<string, string>;
  /** Replaces ENTRYPOINT and CMD (a Kubernetes container's `command`). */
  command?: string[];
  /** Replaces CMD (`args`). */
  args?: string[];
  volumes?: Volume[];
}

export interface ProbeResponse {
  status: number;
  contentType: string | null;
  body: string;
}

/** Runs inside the container's network namespace (nsenter), so the container needs no network of its own. */
const PROBE_SOURCE = `
const req = JSON.parse(process.env.PROBE_REQUEST);
const deadline = Date.now() + req.waitMs;
for (;;) {
  try {
    const res = await fetch(req.url, { method: req.method, body: req.body ?? undefined, signal: AbortSignal.timeout(req.timeoutMs) });
    const body = await res.text();
    process.stdout.write(JSON.stringify({ status: res.status, contentType: res.headers.get('content-type'), body }));
    break;
  } catch (err) {
    if (Date.now() >= deadline) {
      process.stdout.write(JSON.stringify({ error: String(err?.cause?.code ?? err?.cause ?? err) }));
      break;
    }
    await new Promise((r) => setTimeout(r, 150));
  }
}
`;

/** A process started from a replayed image's final stage, in its own PID, user and network namespaces. */
export class Container {
  readonly argv: string[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly #child: ChildProcess;
  readonly #pid: Promise<number>;
  readonly #cleanup: () => Promise<void>;
  #output = '';
  #done = false;

  constructor(child: ChildProcess, argv: string[], cleanup: () => Promise<void>) {
    this.#child = child;
    this.argv = argv;
    this.#cleanup = cleanup;
    const onData = (b: Buffer): void => {
      this.#output = (this.#output + b.toString('utf8')).slice(-200_000);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    this.exited = new Promise((resolvePromise) => {
      child.once('close', (code, signal) => {
        this.#done = true;
        resolvePromise({ code, signal });
      });
      child.once('error', (err) => {
        this.#done = true;
        this.#output += `\n[replay] could not start the sandbox: ${err.message}`;
        resolvePromise({ code: null, signal: null });
      });
    });
    const info = child.stdio[3];
    this.#pid = new Promise((resolvePromise, reject) => {
      let text = '';
      if (!info) return reject(new ReplayError('no info pipe'));
      info.on('data', (b: Buffer) => {
        text += b.toString('utf8');
        const m = /"child-pid"\s*:\s*(\d+)/.exec(text);
        if (m) resolvePromise(Number(m[1]));
      });
      info.on('close', () =>
        reject(new ReplayError(`the sandbox reported no pid; output:\n${lastLines(this.#output, 20)}`)),
      );
    });
    this.#pid.catch(() => undefined);
  }

  /** Everything the process wrote to stdout and stderr so far. */
  get output(): string {
    return this.#output;
  }

  get running(): boolean {
    return !this.#done;
  }

  /** Waits for the output to match. */
  async waitForOutput(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = pattern.exec(this.#output);
      if (m) return m;
      if (Date.now() > deadline || this.#done) {
        throw new ReplayError(
          `no output matching ${pattern} within ${timeoutMs} ms${this.#done ? ' (the process exited)' : ''}; output:\n${lastLines(this.#output, 30)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Waits for the process to exit on its own. */
  async waitForExit(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new ReplayError(`still running after ${timeoutMs} ms; output:\n${lastLines(this.#output, 30)}`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** An HTTP request to 127.0.0.1:port inside the container's network namespace, retried while nothing listens. */
  async request(
    port: number,
    path: string,
    init: { method?: string; body?: string; waitMs?: number } = {},
  ): Promise<ProbeResponse> {
    const pid = await this.#pid;
    const request = {
      url: `http://127.0.0.1:${port}${path}`,
      method: init.method ?? 'GET',
      body: init.body ?? null,
      waitMs: init.waitMs ?? 60_000,
      timeoutMs: 10_000,
    };
    const out = await new Promise<string>((resolvePromise, reject) => {
      const child = spawn(
        'nsenter',
        [`--net=/proc/${pid}/ns/net`, '--', process.execPath, '--input-type=module', '-e', PROBE_SOURCE],
        {
          env: { PROBE_REQUEST: JSON.stringify(request) },
          stdio: ['ignore', 'pipe', 'pipe'],
          timeout: request.waitMs + 15_000,
        },
      );
      let stdout = '';
      let stderr = '';
      let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
      // No point waiting for an answer from a process that is gone.
      void this.exited.then((e) => {
        exited = e;
        child.kill('SIGKILL');
      });
      child.stdout.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
      child.once('error', reject);
      child.once('close', (code) => {
        if (code === 0) resolvePromise(stdout);
        else if (exited)
          reject(
            new ReplayError(
              `the container exited (${exited.signal ?? exited.code}) before answering ${request.method} ${request.url}; its output:\n${lastLines(this.#output, 30)}`,
            ),
          );
        else reject(new ReplayError(`probe failed (${code}): ${stderr.trim()}`));
      });
    });
    const parsed = JSON.parse(out) as ProbeResponse | { error: string };
    if ('error' in parsed) {
      throw new ReplayError(
        `${request.method} ${request.url} failed: ${parsed.error}; the container's output:\n${lastLines(this.#output, 30)}`,
      );
    }
    return parsed;
  }

  /** SIGTERM to the container's PID 1, SIGKILL after graceMs; resolves once it is gone and its volumes removed. */
  async stop(graceMs = 5_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.#done) {
      const pid = await this.#pid.catch(() => undefined);
      if (pid !== undefined) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
      const timer = setTimeout(() => this.#child.kill('SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    const result = await this.exited;
    await this.#cleanup();
    return result;
  }
}

/** Replays Dockerfiles against one build context, sharing stages with identical inputs, in one temporary directory. */
export class Replayer {
  readonly root: string;
  readonly context: string;
  readonly #ignore: DockerIgnore;
  readonly #opts: ReplayerOptions;
  readonly #stages = new Map<string, BuiltStage>();
  readonly #children = new Set<ChildProcess>();
  readonly #containers = new Set<Container>();
  #counter = 0;
  #closed = false;

  private constructor(root: string, context: string, ignore: DockerIgnore, opts: ReplayerOptions) {
    this.root = root;
    this.context = context;
    this.#ignore = ignore;
    this.#opts = opts;
  }

  static async create(opts: ReplayerOptions): Promise<Replayer> {
    const context = await realpath(opts.context);
    const ignoreFile = join(context, '.dockerignore');
    const ignore = new DockerIgnore(existsSync(ignoreFile) ? await readFile(ignoreFile, 'utf8') : '');
    const root = await mkdtemp(join(tmpdir(), 'c2d-image-replay-'));
    // The final stage runs as a non-root uid, which must reach the stage directories to mount them.
    await chmod(root, 0o755);
    return new Replayer(root, context, ignore, opts);
  }

  #log(line: string): void {
    this.#opts.log?.(line);
  }

  /** Replays the Dockerfile (a path relative to the context or absolute); returns the final stage. */
  async replay(dockerfile: string): Promise<ReplayedImage> {
    if (this.#closed) throw new ReplayError('the replayer is closed');
    const started = Date.now();
    const file = resolve(this.context, dockerfile);
    const label = relative(this.context, file);
    const df = parseDockerfile(await readFile(file, 'utf8'), {
      file: label,
      ...(this.#opts.buildArgs && { buildArgs: this.#opts.buildArgs }),
    });
    const final = df.stages[df.stages.length - 1];
    if (!final) throw new ReplayError(`${label}: no stages`);

    // Like BuildKit: only the stages the final one needs are built.
    const needed = new Set<number>([final.index]);
    for (let i = df.stages.length - 1; i >= 0; i--) {
      if (!needed.has(i)) continue;
      for (const instr of df.stages[i]?.instructions ?? []) {
        if (instr.kind === 'COPY' && instr.from !== undefined)
          needed.add(this.#stageRef(df.stages, instr.from, label, instr.line).index);
      }
    }

    const built = new Map<number, BuiltStage>();
    const reports: StageReport[] = [];
    for (const stage of df.stages) {
      if (!needed.has(stage.index)) continue;
      const { version } = standIn(stage.image);
      const stageLabel = `${label} stage ${stage.name ?? stage.index}`;
      const key = await this.#stageKey(stage, df.stages, built, label);
      const cached = this.#stages.get(key);
      if (cached) {
        this.#log(`${stageLabel}: identical to ${cached.label}, reused`);
        built.set(stage.index, cached);
        reports.push({ label: stageLabel, key, reused: true, ms: 0, steps: [] });
        continue;
      }
      const result = await this.#buildStage(stage, df.stages, built, stageLabel, key, version, label);
      this.#stages.set(key, result);
      built.set(stage.index, result);
      reports.push({ label: stageLabel, key, reused: false, ms: result.ms, steps: result.steps });
    }
    const last = built.get(final.index);
    if (!last) throw new ReplayError(`${label}: the final stage was not built`);
    return {
      dockerfile: label,
      baseImage: final.image,
      stages: reports,
      config: last.config,
      mounts: last.mounts,
      ms: Date.now() - started,
    };
  }

  #stageRef(stages: Stage[], ref: string, file: string, line: number): Stage {
    const s = stages.find((x) => x.name === ref || String(x.index) === ref);
    if (!s) throw new ReplayError(`${file}:${line}: no stage ${ref}`);
    return s;
  }

  /** A digest of everything the stage's result depends on: base image, instructions, copied files, source stages. */
  async #stageKey(stage: Stage, stages: Stage[], built: Map<number, BuiltStage>, file: string): Promise<string> {
    const h = createHash('sha256');
    h.update(`FROM ${stage.image}\n`);
    for (const instr of stage.instructions) {
      const { line: _line, ...rest } = instr;
      h.update(JSON.stringify(rest) + '\n');
      if (instr.kind !== 'COPY') continue;
      if (instr.from !== undefined) {
        const src = built.get(this.#stageRef(stages, instr.from, file, instr.line).index);
        h.update(`stage ${src?.key ?? '?'}\n`);
      } else {
        for (const source of instr.sources)
          await this.#hashContext(h, await this.#contextSource(source, file, instr.line));
      }
    }
    return h.digest('hex');
  }

  /** The host path of a COPY source in the context, refusing `..`, escapes through symlinks and ignored paths. */
  async #contextSource(source: string, file: string, line: number): Promise<{ rel: string; host: string }> {
    if (source.split('/').includes('..'))
      throw new ReplayError(`${file}:${line}: COPY source ${JSON.stringify(source)}: ".." is refused`);
    const rel = posix.normalize(source).replace(/^\/+/, '').replace(/\/+$/, '');
    if (rel === '' || rel === '.') throw new ReplayError(`${file}:${line}: copying the whole context is not supported`);
    if (this.#ignore.excludes(rel))
      throw new ReplayError(`${file}:${line}: COPY source ${source} is excluded by .dockerignore`);
    const joined = join(this.context, rel);
    if (!existsSync(joined))
      throw new ReplayError(`${file}:${line}: COPY source ${source} does not exist in the build context`);
    const host = await realpath(joined);
    if (!within(this.context, host))
      throw new ReplayError(`${file}:${line}: COPY source ${source} resolves outside the build context`);
    return { rel, host };
  }

  /** The context entries under a source, in a stable order, without what .dockerignore excludes. */
  async *#walkContext(
    rel: string,
    host: string,
  ): AsyncGenerator<{ rel: string; host: string; kind: 'dir' | 'file' | 'symlink'; mode: number }> {
    const st = await lstat(host);
    if (st.isSymbolicLink()) {
      yield { rel, host, kind: 'symlink', mode: st.mode };
    } else if (st.isDirectory()) {
      yield { rel, host, kind: 'dir', mode: st.mode };
      for (const name of (await readdir(host)).sort()) {
        const childRel = `${rel}/${name}`;
        if (this.#ignore.excludes(childRel) && !this.#ignore.hasExceptions) continue;
        for await (const e of this.#walkContext(childRel, join(host, name))) {
          if (e.kind !== 'dir' && this.#ignore.excludes(e.rel)) continue;
          yield e;
        }
      }
    } else if (st.isFile()) {
      yield { rel, host, kind: 'file', mode: st.mode };
    }
  }

  async #hashContext(h: Hash, src: { rel: string; host: string }): Promise<void> {
    // The top-level source was resolved through symlinks already; below it, symlinks are entries of their own.
    const top = await stat(src.host);
    if (top.isFile()) {
      h.update(`file ${src.rel} ${top.mode.toString(8)}\n`);
      await hashFile(h, src.host);
      return;
    }
    for await (const e of this.#walkContext(src.rel, src.host)) {
      h.update(`${e.kind} ${relative(src.host, e.host)} ${e.mode.toString(8)}\n`);
      if (e.kind === 'file') await hashFile(h, e.host);
      else if (e.kind === 'symlink') h.update(`-> ${await readlink(e.host)}\n`);
    }
  }

  async #buildStage(
    stage: Stage,
    stages: Stage[],
    built: Map<number, BuiltStage>,
    label: string,
    key: string,
    version: string,
    file: string,
  ): Promise<BuiltStage> {
    const started = Date.now();
    const dir = join(this.root, 'stages', `${++this.#counter}-${key.slice(0, 12)}`);
    await mkdirMode(dir, 0o755);
    const mounts = new Map<string, string>();
    for (const base of STAGE_BASE_DIRS) {
      const host = join(dir, 'fs', base.path);
      await mkdirMode(host, base.mode);
      for (const child of base.children ?? []) {
        await mkdirMode(join(host, child.name), child.mode);
        if (child.owner) await chown(join(host, child.name), child.owner[0], child.owner[1]);
      }
      mounts.set(base.path, host);
    }
    // The mount point of the stand-in Node (SandboxSpec.node): a read-only stage directory cannot get one at run time.
    await writeFile(join(dir, 'fs', '/usr/local/bin/node'), '', { mode: 0o755 });
    const config: ImageConfig = {
      env: {},
      workdir: '/',
      user: { uid: 0, gid: 0 },
      entrypoint: BASE_ENTRYPOINT,
      cmd: BASE_CMD,
      exposed: [],
    };
    let cmdSet = false;
    let npmSeeded = false;
    const steps: StepTiming[] = [];

    const ensureDir = async (v: string, line: number): Promise<string> => {
      let loc = locate(mounts, v);
      if (!loc) {
        const top = '/' + (v.split('/')[1] ?? '');
        if (v === '/' || UNTRACKABLE.has(top)) {
          throw new ReplayError(
            `${file}:${line}: ${v} is under ${top === '/' ? '/' : top}, which the host provides read-only for the base image`,
          );
        }
        const host = join(dir, 'fs', top);
        await mkdirMode(host, 0o755);
        mounts.set(top, host);
        loc = locate(mounts, v);
      }
      if (!loc) throw new ReplayError(`${file}:${line}: cannot place ${v}`);
      const root = mounts.get(loc.mount) ?? '';
      await assertNoSymlinks(root, loc.host, v);
      // Like WORKDIR and COPY: missing directories are created root-owned, 0755.
      let cur = root;
      for (const part of relative(root, loc.host).split(sep).filter(Boolean)) {
        cur = join(cur, part);
        if (!existsSync(cur)) await mkdirMode(cur, 0o755);
      }
      return loc.host;
    };

    for (let idx = 0; idx < stage.instructions.length; idx++) {
      const instr = stage.instructions[idx];
      if (!instr) continue;
      const t0 = Date.now();
      const where = `${file}:${instr.line}`;
      switch (instr.kind) {
        case 'WORKDIR': {
          const v = virtualPath(config.workdir, instr.path, `${where}: WORKDIR`);
          await ensureDir(v, instr.line);
          config.workdir = v;
          break;
        }
        case 'ENV':
          for (const [k, v] of instr.vars) config.env[k] = v;
          break;
        case 'USER':
          config.user = { uid: instr.uid, gid: instr.gid ?? instr.uid };
          break;
        case 'EXPOSE':
          config.exposed.push(...instr.ports);
          break;
        case 'ENTRYPOINT':
          config.entrypoint = instr.argv;
          // Setting ENTRYPOINT drops the CMD inherited from the base image.
          if (!cmdSet) config.cmd = [];
          break;
        case 'CMD':
          config.cmd = instr.argv;
          cmdSet = true;
          break;
        case 'COPY': {
          const destV = virtualPath(config.workdir, instr.dest, `${where}: COPY destination`);
          const destIsDir = instr.dest.endsWith('/') || instr.sources.length > 1 || instr.dest === '.';
          // Hard links are as good as copies when no later RUN in this stage can change the files in place.
          const mayLink = !stage.instructions.slice(idx + 1).some((i) => i.kind === 'RUN');
          for (const source of instr.sources) {
            if (instr.from === undefined) {
              const src = await this.#contextSource(source, file, instr.line);
              const isDir = (await stat(src.host)).isDirectory();
              if (isDir) {
                const destHost = await ensureDir(destV, instr.line);
                await this.#copyContextTree(src, destHost);
              } else {
                const fileV =
                  destIsDir || (await isDirectory(mounts, destV)) ? posix.join(destV, posix.basename(src.rel)) : destV;
                const parentHost = await ensureDir(posix.dirname(fileV), instr.line);
                const destHost = join(parentHost, posix.basename(fileV));
                await assertNotSymlink(destHost, fileV);
                await copyFile(src.host, destHost);
                await chmod(destHost, (await stat(src.host)).mode & 0o7777);
              }
            } else {
              const from = built.get(this.#stageRef(stages, instr.from, file, instr.line).index);
              if (!from) throw new ReplayError(`${where}: stage ${instr.from} was not built`);
              const srcV = virtualPath('/', source, `${where}: COPY --from source`);
              const loc = locate(from.mounts, srcV);
              if (!loc || !existsSync(loc.host)) {
                throw new ReplayError(
                  `${where}: stage ${instr.from} has no ${srcV} (the replay tracks the stage's WORKDIRs, /usr/local, /root, /home and /tmp)`,
                );
              }
              await assertNoSymlinks(from.mounts.get(loc.mount) ?? '', loc.host, srcV);
              const isDir = (await lstat(loc.host)).isDirectory();
              if (isDir) {
                const existing = locate(mounts, destV);
                const fresh = existing === undefined || !existsSync(existing.host);
                const destHost = await ensureDir(destV, instr.line);
                if (fresh) await this.#cp(mayLink ? ['-alT'] : ['-aT'], loc.host, destHost);
                else await copyTree(loc.host, destHost, mayLink);
              } else {
                const fileV =
                  destIsDir || (await isDirectory(mounts, destV)) ? posix.join(destV, posix.basename(srcV)) : destV;
                const parentHost = await ensureDir(posix.dirname(fileV), instr.line);
                const destHost = join(parentHost, posix.basename(fileV));
                await assertNotSymlink(destHost, fileV);
                await rm(destHost, { force: true });
                await this.#cp(mayLink ? ['-al'] : ['-a'], loc.host, destHost);
              }
            }
          }
          break;
        }
        case 'RUN': {
          // Only a speed-up: npm verifies every package against the lock file's integrity either way.
          if (!npmSeeded && /\bnp[mx]\b/.test(instr.command)) {
            await this.#seedNpmCache(mounts.get('/root') ?? '');
            npmSeeded = true;
          }
          this.#log(`${label}: ${describeInstruction(instr)}`);
          const [cmd, args] = sandboxCommand({
            mounts,
            node: process.execPath,
            writable: true,
            uid: config.user.uid,
            gid: config.user.gid,
            network: true,
            workdir: config.workdir,
            env: {
              ...baseEnv(config, version),
              npm_config_prefer_offline: 'true',
              npm_config_update_notifier: 'false',
            },
            // The RUN text as written, through /bin/sh -c, under the umask a container build uses.
            argv: ['/bin/sh', '-c', 'umask 0022 && exec /bin/sh -c "$1"', 'sh', instr.command],
          });
          const logFile = join(dir, `run-line-${instr.line}.log`);
          const result = await runLogged(cmd, args, this.#children, logFile);
          if (result.code !== 0) {
            throw new ReplayError(
              `${where}: ${describeInstruction(instr)} exited with ${result.code}:\n${lastLines(result.output, 40)}`,
            );
          }
          break;
        }
      }
      steps.push({ line: instr.line, instruction: describeInstruction(instr), ms: Date.now() - t0 });
      if (instr.kind === 'RUN' || instr.kind === 'COPY')
        this.#log(`${label}: ${describeInstruction(instr)} (${Date.now() - t0} ms)`);
    }
    return { key, label, mounts, config, steps, ms: Date.now() - started };
  }

  async #copyContextTree(src: { rel: string; host: string }, destHost: string): Promise<void> {
    for await (const e of this.#walkContext(src.rel, src.host)) {
      const target = join(destHost, relative(src.host, e.host));
      if (!within(destHost, target)) throw new ReplayError(`${e.rel} would land outside its destination`);
      await assertNotSymlink(target, e.rel);
      if (e.kind === 'dir') {
        await mkdir(target, { recursive: true });
        await chmod(target, e.mode & 0o7777);
      } else if (e.kind === 'file') {
        await copyFile(e.host, target);
        await chmod(target, e.mode & 0o7777);
      } else {
        await rm(target, { force: true });
        await symlink(await readlink(e.host), target);
      }
    }
  }

  async #cp(flags: string[], src: string, dest: string): Promise<void> {
    const r = await runLogged('cp', [...flags, '--', src, dest], this.#children);
    if (r.code !== 0) throw new ReplayError(`copying ${src} failed: ${r.output.trim()}`);
  }

  /** Each stage's /root/.npm starts from the host's npm cache: content hard-linked (cacache never rewrites it), index copied. */
  async #seedNpmCache(rootHome: string): Promise<void> {
    const cache = this.#opts.npmCache === undefined ? join(homedir(), '.npm', '_cacache') : this.#opts.npmCache;
    if (!cache || !rootHome || !existsSync(join(cache, 'content-v2'))) return;
    const dest = join(rootHome, '.npm', '_cacache');
    await mkdir(dest, { recursive: true });
    await this.#cp(['-al'], join(cache, 'content-v2'), join(dest, 'content-v2'));
    if (existsSync(join(cache, 'index-v5'))) await this.#cp(['-a'], join(cache, 'index-v5'), join(dest, 'index-v5'));
  }

  /**
   * Starts the image's final stage as its USER, in fresh user, PID, IPC, UTS and network namespaces (only a loopback
   * inside, reached through Container.request), with the host's system directories standing in for the base image
   * and, of this repository, only what the stages copied.
   */
  async run(image: ReplayedImage, opts: RunOptions = {}): Promise<Container> {
    if (this.#closed) throw new ReplayError('the replayer is closed');
    const { version } = standIn(image.baseImage);
    const config = image.config;
    const argv = opts.command
      ? [...opts.command, ...(opts.args ?? [])]
      : [...config.entrypoint, ...(opts.args ?? config.cmd)];
    if (argv.length === 0) throw new ReplayError(`${image.dockerfile}: no ENTRYPOINT or CMD and no command given`);
    if (!opts.command && argv[0] === BASE_ENTRYPOINT[0]) {
      throw new ReplayError(
        `${image.dockerfile}: the base image's docker-entrypoint.sh is not modelled; give a command`,
      );
    }
    const volDir = join(this.root, 'containers', String(++this.#counter));
    await mkdirMode(volDir, 0o755);
    // Like a container's own writable layer: /tmp and the home directories start afresh for every run.
    const mounts = new Map(image.mounts);
    for (const p of ['/tmp', '/home']) {
      const src = mounts.get(p);
      if (src === undefined) continue;
      const copy = join(volDir, 'fs', p);
      await mkdirMode(join(volDir, 'fs'), 0o755);
      await this.#cp(['-a'], src, copy);
      mounts.set(p, copy);
    }
    const extraBinds: { host: string; path: string; writable: boolean }[] = [];
    for (const [i, vol] of (opts.volumes ?? []).entries()) {
      const v = virtualPath('/', vol.path, 'volume');
      const host = join(volDir, `volume-${i}`);
      await mkdirMode(host, 0o755);
      for (const [name, content] of Object.entries(vol.files ?? {})) {
        if (name.includes('/') || name === '..' || name === '.')
          throw new ReplayError(`volume file name ${JSON.stringify(name)} is refused`);
        await writeFile(join(host, name), content, { mode: 0o644 });
        if (vol.uid !== undefined) await chown(join(host, name), vol.uid, vol.gid ?? vol.uid);
      }
      if (vol.uid !== undefined) await chown(host, vol.uid, vol.gid ?? vol.uid);
      extraBinds.push({ host, path: v, writable: vol.writable ?? false });
    }
    const env = { ...baseEnv(config, version), ...opts.env };
    const [cmd, args] = sandboxCommand({
      // A non-root USER gets the stage directories writable as far as file ownership allows, as in a container;
      // root would change the replayed stage itself, so it gets them read-only.
      mounts,
      node: process.execPath,
      writable: config.user.uid !== 0,
      extraBinds,
      uid: config.user.uid,
      gid: config.user.gid,
      network: false,
      workdir: config.workdir,
      env,
      argv,
      asPid1: true,
      infoFd: 3,
    });
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    const container = new Container(child, argv, async () => {
      this.#containers.delete(container);
      await rm(volDir, { recursive: true, force: true });
    });
    this.#containers.add(container);
    return container;
  }

  /** Stops whatever is still running and removes every stage and volume directory. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const child of this.#children) child.kill('SIGKILL');
    await Promise.all([...this.#containers].map((c) => c.stop(2_000)));
    await rm(this.root, { recursive: true, force: true });
  }
}

async function hashFile(h: Hash, file: string): Promise<void> {
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
}

async function isDirectory(mounts: Map<string, string>, v: string): Promise<boolean> {
  const loc = locate(mounts, v);
  if (!loc) return false;
  const st = await lstat(loc.host).catch(() => undefined);
  return st?.isDirectory() ?? false;
}

async function assertNotSymlink(host: string, v: string): Promise<void> {
  const st = await lstat(host).catch(() => undefined);
  if (st?.isSymbolicLink())
    throw new ReplayError(`${v} is a symlink in the stage; the replay does not write through it`);
}

/** Merges a stage directory into an existing one, entry by entry, never writing through a symlink. */
async function copyTree(src: string, dest: string, mayLink: boolean): Promise<void> {
  for (const name of await readdir(src)) {
    const s = join(src, name);
    const d = join(dest, name);
    const st = await lstat(s);
    await assertNotSymlink(d, d);
    if (st.isDirectory()) {
      await mkdir(d, { recursive: true });
      await chmod(d, st.mode & 0o7777);
      await copyTree(s, d, mayLink);
    } else if (st.isSymbolicLink()) {
      await rm(d, { force: true });
      await symlink(await readlink(s), d);
    } else if (st.isFile()) {
      await rm(d, { force: true });
      if (mayLink) await link(s, d);
      else {
        await copyFile(s, d);
        await chmod(d, st.mode & 0o7777);
      }
    }
  }
}
