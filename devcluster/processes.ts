import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** A child process of the platform whose output goes to its own log file. */
/**
 * The node runs root's tools (iptables, ipset, conntrack, runc) from sbin, which a non-login PATH (CI's, say) may lack;
 * every process of the platform is started from this module's importers and inherits this PATH.
 */
export function withSystemBinaries(path: string | undefined): string {
  const dirs = (path ?? '').split(':').filter(Boolean);
  for (const dir of ['/usr/local/sbin', '/usr/sbin', '/sbin']) if (!dirs.includes(dir)) dirs.push(dir);
  return dirs.join(':');
}
process.env.PATH = withSystemBinaries(process.env.PATH);

export interface ManagedProcess {
  name: string;
  child: ChildProcess;
  logFile: string;
  /** Resolves when the process has exited (with its code, or the signal that ended it). */
  exited: Promise<number | string>;
  stop(timeoutMs?: number): Promise<void>;
  /** Starts the same command, with the same settings and log file, as a new process (after this one has exited). */
  respawn(): ManagedProcess;
}

export function startProcess(
  name: string,
  command: string,
  args: string[],
  opts: { logFile: string; env?: NodeJS.ProcessEnv; cwd?: string },
): ManagedProcess {
  const fd = openSync(opts.logFile, 'a');
  const child = spawn(command, args, {
    stdio: ['ignore', fd, fd],
    env: opts.env ?? process.env,
    cwd: opts.cwd,
  });
  closeSync(fd);
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
    child.once('error', (err) => resolve(`spawn error: ${err.message}`));
  });
  const stop = (timeoutMs?: number): Promise<void> => stopChild(child, name, timeoutMs);
  const respawn = (): ManagedProcess => startProcess(name, command, args, opts);
  return { name, child, logFile: opts.logFile, exited, stop, respawn };
}

/**
 * SIGTERM, then SIGKILL after `graceMs`, then at most `killWaitMs` more for the exit to be reported: a process stuck
 * in the kernel fails the stop with its name instead of hanging whoever stops it.
 */
export async function stopChild(
  child: ChildProcess,
  name: string,
  graceMs = 10_000,
  killWaitMs = 10_000,
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const escalate = setTimeout(() => child.kill('SIGKILL'), graceMs);
  try {
    await withinDeadline(() => exited, Date.now() + graceMs + killWaitMs);
  } catch {
    throw new Error(`${name} (pid ${child.pid}) did not exit within ${graceMs + killWaitMs} ms of SIGTERM and SIGKILL`);
  } finally {
    clearTimeout(escalate);
  }
}

/** The last `n` lines of a log file, to put in an error. */
export function lastLines(file: string, n: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * A crash and a restart of the process named `name` in `list`: SIGKILL, down for `downMs`, then the same command
 * again in its place in `list` (so whoever stops the list stops the new one). Resolves once `serving` holds (given
 * when the new process started, ms since the epoch), and fails, with the end of its log, if the new process exits
 * first or does not serve within `timeoutMs`.
 */
export async function crashAndRestart(
  list: ManagedProcess[],
  name: string,
  opts: { downMs?: number; serving: (startedAt: number, signal: AbortSignal) => Promise<boolean>; timeoutMs?: number },
): Promise<ManagedProcess> {
  const i = list.findIndex((p) => p.name === name);
  const old = list[i];
  if (!old) throw new Error(`no ${name} to restart`);
  old.child.kill('SIGKILL');
  await old.exited;
  await new Promise((r) => setTimeout(r, opts.downMs ?? 0));
  const startedAt = Date.now();
  const next = old.respawn();
  list[i] = next;
  const exitedEarly = next.exited.then((code) => {
    throw new Error(
      `${name} exited (${code}) while restarting; the end of ${next.logFile}:\n${lastLines(next.logFile, 8)}`,
    );
  });
  exitedEarly.catch(() => undefined);
  await Promise.race([
    waitFor(
      `${name} to serve again after its restart`,
      (signal) => opts.serving(startedAt, signal),
      opts.timeoutMs ?? 60_000,
      100,
    ),
    exitedEarly,
  ]);
  return next;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Polls `check` until it returns true, or fails after `timeoutMs` with an error naming what it waited for and the
 * last error seen. Each check gets only the time that is left (its signal aborts then, and a check that ignores
 * the signal is abandoned), so a hung request cannot stretch the wait past its bound. `what` may be a function,
 * read when the wait fails, to name the last state seen.
 */
export async function waitFor(
  what: string | (() => string),
  check: (signal: AbortSignal) => Promise<boolean>,
  timeoutMs: number,
  intervalMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await withinDeadline(check, deadline)) return;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, Math.max(0, Math.min(intervalMs, deadline - Date.now()))));
  }
  const reason = lastError instanceof Error ? `: ${lastError.message}` : '';
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'function' ? what() : what}${reason}`);
}

/** Runs `work` with an AbortSignal that fires at `deadline`, and rejects then even if `work` ignores the signal. */
export async function withinDeadline<T>(work: (signal: AbortSignal) => Promise<T>, deadline: number): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => {
        const err = new Error('attempt cut at the deadline');
        controller.abort(err);
        reject(err);
      },
      Math.max(0, deadline - Date.now()),
    );
  });
  try {
    return await Promise.race([work(controller.signal), expired]);
  } finally {
    clearTimeout(timer);
  }
}
