import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cacheDir } from '../binaries.ts';
import { removeNodeCgroups } from './cgroups.ts';

const run = promisify(execFile);

/**
 * A record of each running real node, so that what a killed platform leaves (SIGKILL gives it no chance to stop
 * its node) is swept at the next start: the processes in the node's namespace (and with the last of them the
 * namespace, its mounts and the host's end of its veth pair), the platform's processes on the host (each names a
 * path below the platform's state directory or writes its log there), and kubelet's control groups.
 */
export interface InstanceRecord {
  id: string;
  /** The process that started the platform, and its start time (a pid alone may be reused). */
  owner: { pid: number; startTime: string };
  holder: { pid: number; startTime: string };
  /** The platform's state directory: every process it started names a path below it. */
  stateDir: string;
  hostLink: string;
  cgroupRoot: string;
}

export function instancesDir(): string {
  return join(cacheDir(), 'real-nodes');
}

/** Field 22 of /proc/PID/stat (start time in clock ticks since boot), or undefined when the process is gone. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command (field 2) is in parentheses and may hold spaces: count fields after its closing one.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

const alive = (p: { pid: number; startTime: string }): boolean => processStartTime(p.pid) === p.startTime;

/** A record is stale when the process that started its platform is gone. */
export function isStale(record: InstanceRecord, isAlive = alive): boolean {
  return !isAlive(record.owner);
}

export function recordInstance(r: Omit<InstanceRecord, 'owner' | 'holder'> & { holderPid: number }): () => void {
  const dir = instancesDir();
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${r.id}.json`);
  const record: InstanceRecord = {
    id: r.id,
    owner: { pid: process.pid, startTime: processStartTime(process.pid)! },
    holder: { pid: r.holderPid, startTime: processStartTime(r.holderPid) ?? '' },
    stateDir: r.stateDir,
    hostLink: r.hostLink,
    cgroupRoot: r.cgroupRoot,
  };
  writeFileSync(file, JSON.stringify(record, null, 2));
  return () => rmSync(file, { force: true });
}

function pids(): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .map(Number);
}

function netnsOf(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return undefined;
  }
}

function cmdlineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

/** Whether any open file of the process (its log, for one started by the platform) is below `prefix`. */
function holdsFileBelow(pid: number, prefix: string): boolean {
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith(prefix);
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

function kill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Gone already.
  }
}

/** Ends everything a stale record's platform left and removes the record; resolves with what it found. */
export async function sweepInstance(record: InstanceRecord): Promise<string[]> {
  const found: string[] = [];
  const hostNs = netnsOf(process.pid);
  const nodeNs = alive(record.holder) ? netnsOf(record.holder.pid) : undefined;
  const prefix = `${record.stateDir}/`;
  for (let attempt = 0; attempt < 50; attempt++) {
    const members = pids().filter(
      (p) =>
        p !== process.pid &&
        ((nodeNs !== undefined && nodeNs !== hostNs && netnsOf(p) === nodeNs) ||
          cmdlineOf(p).includes(prefix) ||
          holdsFileBelow(p, prefix)),
    );
    if (!members.length) break;
    if (attempt === 0) found.push(`${members.length} processes`);
    for (const p of members) kill(p);
    await new Promise((r) => setTimeout(r, 100));
  }
  await removeNodeCgroups(record.cgroupRoot);
  try {
    await run('ip', ['link', 'del', record.hostLink]);
    found.push(`link ${record.hostLink}`);
  } catch {
    // Gone with the namespace.
  }
  rmSync(join(instancesDir(), `${record.id}.json`), { force: true });
  return found;
}

/** Sweeps every instance whose platform was killed; reports each one it swept. */
export async function sweepStaleInstances(report: (m: string) => void): Promise<void> {
  let files: string[];
  try {
    files = readdirSync(instancesDir()).filter((f) => f.endsWith('.json'));
  } catch {
    return;
  }
  for (const f of files) {
    let record: InstanceRecord;
    try {
      record = JSON.parse(readFileSync(join(instancesDir(), f), 'utf8')) as InstanceRecord;
    } catch {
      continue;
    }
    if (!isStale(record)) continue;
    const found = await sweepInstance(record);
    report(
      `swept the real node ${record.id} of a platform that was killed (${record.stateDir}): ${found.join(', ') || 'nothing left'}`,
    );
  }
}
