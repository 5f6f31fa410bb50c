import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from '../processes.ts';

const run = promisify(execFile);

/**
 * The host settings kubelet rewrites at start. Inside the node's mount namespace each of these files is covered by a
 * copy of its current value, so kubelet writes to the copy and the host keeps its own.
 */
export const SHIELDED_SYSCTLS = [
  'vm/overcommit_memory',
  'vm/panic_on_oom',
  'kernel/panic',
  'kernel/panic_on_oops',
  'kernel/keys/root_maxkeys',
  'kernel/keys/root_maxbytes',
];

/**
 * A network and mount namespace of the node's own, held open by one process. Every part of the node runs in it
 * (`enter`), so the cluster's network (bridge, routes, iptables and ipset state, sysctls of the network stack) and
 * every mount the node makes (overlay root filesystems, volumes, /run, /var/lib, /var/log) exist only there and
 * vanish with its last process. The host sees one veth pair: HOST_ADDRESS on its end, NODE_ADDRESS on the node's.
 */
export interface NodeNamespace {
  holderPid: number;
  hostAddress: string;
  nodeAddress: string;
  hostLink: string;
  /** The argv prefix that runs a command inside the namespace. */
  enter(argv: string[]): string[];
  /** Runs a command inside the namespace and resolves with its stdout. */
  exec(argv: string[], timeoutMs?: number): Promise<string>;
  /** Kills every process left in the namespace (its last one, the holder, last), which destroys it. */
  stop(): Promise<void>;
}

/** Where the node's namespace is, for a process that did not create it (a test worker, from PlatformEnv). */
export interface NodeLink {
  holderPid: number;
  hostAddress: string;
  nodeAddress: string;
  hostLink: string;
}

/** `enter` and `exec` for the namespace held by `holderPid`. */
function namespaceCommands(holderPid: number): Pick<NodeNamespace, 'enter' | 'exec'> {
  const enter = (argv: string[]): string[] => ['nsenter', '-t', String(holderPid), '-m', '-n', '--', ...argv];
  const exec = async (argv: string[], timeoutMs = 30_000): Promise<string> => {
    const [cmd, ...args] = enter(argv);
    const { stdout } = await run(cmd!, args, { timeout: timeoutMs, maxBuffer: 16 << 20 });
    return stdout;
  };
  return { enter, exec };
}

/** Enters an existing node namespace: what its creator has of it, but stopping it. */
export function joinNodeNamespace(link: NodeLink): Omit<NodeNamespace, 'stop'> {
  return { ...link, ...namespaceCommands(link.holderPid) };
}

/** The holder: sets up the private mounts, then waits (stdin closed → it exits). */
function holderScript(stateDir: string): string {
  const shields = SHIELDED_SYSCTLS.map((s) => {
    const copy = join(stateDir, 'sysctl', s.replaceAll('/', '.'));
    return `mount -n --bind ${copy} /proc/sys/${s}`;
  });
  return [
    'set -e',
    // -n: no record in the host's /run/mount/utab (libmount would create it before /run is the node's own).
    'mount -n --make-rprivate /',
    'mount -n -t tmpfs -o mode=0755 c2d-node-run /run',
    'mkdir -p /run/containerd',
    `mount -n --bind ${join(stateDir, 'var-lib')} /var/lib`,
    `mount -n --bind ${join(stateDir, 'var-log')} /var/log`,
    ...shields,
    'ip link set lo up',
    'echo ready',
    'exec sleep infinity',
  ].join('\n');
}

/** A /30 in 10.200.0.0/16 that no host address is in yet. */
async function freeLinkSubnet(): Promise<[string, string]> {
  const { stdout } = await run('ip', ['-4', '-o', 'addr', 'show']);
  for (let attempt = 0; attempt < 100; attempt++) {
    const third = Math.floor(Math.random() * 256);
    const fourth = Math.floor(Math.random() * 64) * 4;
    const host = `10.200.${third}.${fourth + 1}`;
    if (!stdout.includes(`10.200.${third}.${fourth + 1}/`) && !stdout.includes(`10.200.${third}.${fourth + 2}/`)) {
      return [host, `10.200.${third}.${fourth + 2}`];
    }
  }
  throw new Error('no free /30 in 10.200.0.0/16 for the node link');
}

function netnsOf(pid: number | string): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return undefined;
  }
}

export async function createNodeNamespace(stateDir: string, id: string): Promise<NodeNamespace> {
  for (const d of ['var-lib', 'var-log', 'sysctl']) mkdirSync(join(stateDir, d), { recursive: true });
  // Read and written, not copied: procfs files report a size of 0.
  for (const s of SHIELDED_SYSCTLS)
    writeFileSync(join(stateDir, 'sysctl', s.replaceAll('/', '.')), readFileSync(`/proc/sys/${s}`));
  const holder: ChildProcess = spawn(
    'unshare',
    ['--net', '--mount', '--propagation', 'private', 'sh', '-c', holderScript(stateDir)],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  holder.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  holder.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const holderPid = holder.pid!;
  const { enter, exec } = namespaceCommands(holderPid);
  const hostLink = `c2d${id.slice(0, 8)}`;
  const hostNs = netnsOf(process.pid);
  // Read once the holder is in it: a Ctrl-C in a terminal signals the whole process group, holder included, and the
  // shims (sessions of their own) keep the namespace alive after it; they are found by this id then.
  let nodeNs: string | undefined;
  const stop = async (): Promise<void> => {
    const nsId = nodeNs ?? netnsOf(holderPid);
    // Every process in the node's network namespace is one of the node's (containerd's shims and the containers
    // included): kill them all, the holder last, and the namespace with its links, tables and mounts goes too.
    for (let attempt = 0; nsId !== undefined && nsId !== hostNs && attempt < 100; attempt++) {
      const members = readdirSync('/proc').filter(
        (p) => /^\d+$/.test(p) && Number(p) !== holderPid && netnsOf(p) === nsId,
      );
      if (!members.length) break;
      for (const pid of members) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    if (holder.exitCode === null && holder.signalCode === null) {
      const exited = new Promise((r) => holder.once('exit', r));
      holder.kill('SIGKILL');
      await exited;
    }
    await waitFor(
      `host link ${hostLink} to go with the node's namespace`,
      async () => {
        try {
          await run('ip', ['link', 'show', hostLink]);
          return false;
        } catch {
          return true;
        }
      },
      10_000,
      100,
    );
  };
  try {
    await waitFor(
      'the node namespace holder to set up its mounts',
      async () => {
        if (holder.exitCode !== null) throw new Error(`namespace holder exited (${holder.exitCode}): ${output.trim()}`);
        return output.includes('ready') && netnsOf(holderPid) !== hostNs;
      },
      10_000,
      20,
    );
    nodeNs = netnsOf(holderPid);
    const [hostAddress, nodeAddress] = await freeLinkSubnet();
    await run('ip', ['link', 'add', hostLink, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', String(holderPid)]);
    await run('ip', ['addr', 'add', `${hostAddress}/30`, 'dev', hostLink]);
    await run('ip', ['link', 'set', hostLink, 'up']);
    await exec(['ip', 'addr', 'add', `${nodeAddress}/30`, 'dev', 'eth0']);
    await exec(['ip', 'link', 'set', 'eth0', 'up']);
    await exec(['ip', 'route', 'add', 'default', 'via', hostAddress]);
    return { holderPid, hostAddress, nodeAddress, hostLink, enter, exec, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
