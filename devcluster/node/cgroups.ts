import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Container } from '@kubernetes/client-node';

/** A container's limits as the kernel takes them. */
export interface ContainerLimits {
  memoryBytes?: number;
  /** CPU in millicores. */
  cpuMillis?: number;
}

const CFS_PERIOD_US = 100_000;
const CGROUP_ROOT = '/sys/fs/cgroup';
const SAFE_NAME = /^[A-Za-z0-9_.-]+$/;

const SUFFIXES: Record<string, number> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** A Kubernetes resource quantity ("512Mi", "250m", "1.5", "1e3") as a number; undefined if it is not one. */
export function parseQuantity(quantity: string | undefined): number | undefined {
  if (quantity === undefined) return undefined;
  const m = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[mkMGTPE])?)$/.exec(quantity.trim());
  if (!m) return undefined;
  const value = Number(m[1]) * (m[2] ? 10 ** Number(m[2].slice(1)) : SUFFIXES[m[3] ?? '']!);
  return Number.isFinite(value) ? value : undefined;
}

/** The limits of a container spec (requests are not enforced: this node never overcommits anything but CPU). */
export function containerLimits(c: V1Container): ContainerLimits {
  const limits = c.resources?.limits ?? {};
  const memory = parseQuantity(limits.memory);
  const cpu = parseQuantity(limits.cpu);
  return {
    ...(memory !== undefined && memory > 0 && { memoryBytes: Math.floor(memory) }),
    ...(cpu !== undefined && cpu > 0 && { cpuMillis: Math.max(1, Math.round(cpu * 1000)) }),
  };
}

/** The files to write for the limits, relative to each controller's group directory. Pure, for tests. */
export function limitWrites(
  version: 1 | 2,
  limits: ContainerLimits,
): { controller: 'memory' | 'cpu' | 'unified'; file: string; value: string }[] {
  const writes: { controller: 'memory' | 'cpu' | 'unified'; file: string; value: string }[] = [];
  const quota =
    limits.cpuMillis !== undefined ? Math.max(1000, Math.round((limits.cpuMillis * CFS_PERIOD_US) / 1000)) : undefined;
  if (version === 2) {
    if (limits.memoryBytes !== undefined) {
      writes.push({ controller: 'unified', file: 'memory.max', value: String(limits.memoryBytes) });
      writes.push({ controller: 'unified', file: 'memory.swap.max', value: '0' });
    }
    if (quota !== undefined)
      writes.push({ controller: 'unified', file: 'cpu.max', value: `${quota} ${CFS_PERIOD_US}` });
  } else {
    if (limits.memoryBytes !== undefined) {
      writes.push({ controller: 'memory', file: 'memory.limit_in_bytes', value: String(limits.memoryBytes) });
      // Memory+swap at the same figure: a container cannot swap its way past its limit (where the kernel accounts swap).
      writes.push({ controller: 'memory', file: 'memory.memsw.limit_in_bytes', value: String(limits.memoryBytes) });
    }
    if (quota !== undefined) {
      writes.push({ controller: 'cpu', file: 'cpu.cfs_period_us', value: String(CFS_PERIOD_US) });
      writes.push({ controller: 'cpu', file: 'cpu.cfs_quota_us', value: String(quota) });
    }
  }
  return writes;
}

/** The `oom_kill` count of a memory.events (v2) or memory.oom_control (v1) file. */
export function oomKills(text: string): number {
  const m = /^oom_kill (\d+)$/m.exec(text);
  return m ? Number(m[1]) : 0;
}

/** One container's control groups: the processes to place in them, and what happened there. */
export interface ContainerGroup {
  /** The cgroup.procs files a process writes its pid to before it execs the sandbox. */
  procsFiles: string[];
  /** Whether the kernel killed a process of the group for exceeding its memory limit. */
  oomKilled(): boolean;
  remove(): void;
}

/**
 * Control groups for the containers of this node, under one parent per node: cgroup v2 when the unified hierarchy
 * has the memory and cpu controllers, else the v1 memory and cpu hierarchies. `detect` returns undefined where the
 * machine lets us write neither, and the node then runs containers without limits (and says so).
 */
export class NodeCgroups {
  private constructor(
    private readonly version: 1 | 2,
    private readonly parents: { memory: string; cpu: string; unified: string },
  ) {}

  /** `name` is the node's own parent group: one per node instance, so that `killNodeCgroups` ends only its containers. */
  static detect(name: string, root = CGROUP_ROOT): NodeCgroups | undefined {
    if (!SAFE_NAME.test(name)) throw new Error(`unsafe cgroup name ${JSON.stringify(name)}`);
    const unifiedRoot = existsSync(join(root, 'cgroup.controllers')) ? root : join(root, 'unified');
    try {
      const controllers = readFileSync(join(unifiedRoot, 'cgroup.controllers'), 'utf8').split(/\s+/);
      if (controllers.includes('memory') && controllers.includes('cpu')) {
        const parent = join(unifiedRoot, name);
        mkdirSync(parent, { recursive: true });
        writeFileSync(join(parent, 'cgroup.subtree_control'), '+memory +cpu');
        return new NodeCgroups(2, { memory: parent, cpu: parent, unified: parent });
      }
    } catch {
      // No usable v2 hierarchy; try v1.
    }
    try {
      const memory = join(root, 'memory', name);
      const cpu = join(root, 'cpu', name);
      mkdirSync(memory, { recursive: true });
      mkdirSync(cpu, { recursive: true });
      if (!existsSync(join(memory, 'memory.limit_in_bytes')) || !existsSync(join(cpu, 'cpu.cfs_quota_us')))
        return undefined;
      return new NodeCgroups(1, { memory, cpu, unified: memory });
    } catch {
      return undefined;
    }
  }

  /** Removes the node's parent groups (they must be empty: call after every container has ended). */
  dispose(): void {
    for (const dir of new Set(Object.values(this.parents))) {
      try {
        rmdirSync(dir);
      } catch {
        // Not empty or already gone.
      }
    }
  }

  get description(): string {
    return `cgroup v${this.version}`;
  }

  /** Creates the groups of one container run and writes its limits. `id` must be a safe path segment. */
  create(id: string, limits: ContainerLimits): ContainerGroup {
    if (!SAFE_NAME.test(id)) throw new Error(`unsafe cgroup name ${JSON.stringify(id)}`);
    const dirs: Partial<Record<'memory' | 'cpu' | 'unified', string>> =
      this.version === 2
        ? { unified: join(this.parents.unified, id) }
        : { memory: join(this.parents.memory, id), cpu: join(this.parents.cpu, id) };
    for (const dir of Object.values(dirs)) mkdirSync(dir, { recursive: true });
    for (const w of limitWrites(this.version, limits)) {
      const dir = dirs[w.controller]!;
      const path = join(dir, w.file);
      // memsw and swap files exist only where the kernel accounts swap; without swap accounting there is none to limit.
      if (!existsSync(path) && /swap|memsw/.test(w.file)) continue;
      writeFileSync(path, w.value);
    }
    const memoryDir = this.version === 2 ? dirs.unified! : dirs.memory!;
    const eventsFile = join(memoryDir, this.version === 2 ? 'memory.events' : 'memory.oom_control');
    return {
      procsFiles: Object.values(dirs).map((d) => join(d, 'cgroup.procs')),
      oomKilled: () => {
        try {
          return oomKills(readFileSync(eventsFile, 'utf8')) > 0;
        } catch {
          return false;
        }
      },
      remove: () => {
        for (const dir of Object.values(dirs)) {
          try {
            rmdirSync(dir);
          } catch {
            // Still busy (a process outlived the sandbox) or already gone: the node's parent group keeps it.
          }
        }
      },
    };
  }
}

/**
 * The command that joins the container's groups and then execs `argv`: the pids are written by the process itself,
 * so nothing the sandbox runs ever escapes its limits. File names travel as arguments, never inside the script.
 */
export function joinGroupsCommand(procsFiles: readonly string[], argv: readonly string[]): string[] {
  const script = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"';
  return ['/bin/sh', '-c', script, 'c2d-cgroup-join', ...procsFiles, '--', ...argv];
}

/**
 * Kills every process left in a node's groups and removes them. bwrap ends a container when bwrap ends, and bwrap
 * ends with the node — except when the node dies while a sandbox is still being set up; the platform calls this
 * after its node has stopped, however it stopped, so no container outlives its platform.
 */
export async function killNodeCgroups(name: string, root = CGROUP_ROOT): Promise<void> {
  if (!SAFE_NAME.test(name)) throw new Error(`unsafe cgroup name ${JSON.stringify(name)}`);
  const parents = [
    join(root, name),
    join(root, 'unified', name),
    join(root, 'memory', name),
    join(root, 'cpu', name),
  ].filter((d) => existsSync(d));
  const children = (dir: string): string[] => {
    try {
      return readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => join(dir, e.name));
    } catch {
      return [];
    }
  };
  for (let attempt = 0; attempt < 50; attempt++) {
    let remaining = 0;
    for (const group of parents.flatMap(children)) {
      let pids: number[] = [];
      try {
        pids = readFileSync(join(group, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
      } catch {
        // Gone meanwhile.
      }
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Already exited.
        }
      }
      try {
        rmdirSync(group);
      } catch {
        remaining++;
      }
    }
    if (remaining === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  for (const parent of parents) {
    try {
      rmdirSync(parent);
    } catch {
      // Not empty: something could not be killed; leave it rather than fail the platform's stop.
    }
  }
}
