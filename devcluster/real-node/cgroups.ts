import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const CGROUP_ROOT = '/sys/fs/cgroup';
const SAFE_NAME = /^[A-Za-z0-9_.-]+$/;

/** Every directory of the group NAME, in every hierarchy, children before their parents. */
function groupDirs(name: string, root: string): string[] {
  const dirs: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) walk(join(dir, e.name));
    dirs.push(dir);
  };
  for (const hierarchy of readdirSync(root)) {
    const top = join(root, hierarchy, name);
    if (existsSync(top)) walk(top);
  }
  return dirs;
}

/** Creates the node's group in every hierarchy: kubelet requires its cgroupRoot to exist. */
export function createNodeCgroups(name: string, root = CGROUP_ROOT): void {
  if (!SAFE_NAME.test(name)) throw new Error(`unsafe cgroup name ${JSON.stringify(name)}`);
  for (const hierarchy of readdirSync(root)) {
    const dir = join(root, hierarchy, name);
    mkdirSync(dir, { recursive: true });
    // A new cpuset group starts with no CPUs and no memory nodes; give it its parent's.
    if (hierarchy === 'cpuset') {
      for (const f of ['cpuset.cpus', 'cpuset.mems'])
        writeFileSync(join(dir, f), readFileSync(join(root, hierarchy, f)));
    }
  }
}

/**
 * Kills whatever is left in the node's control group (kubelet's cgroupRoot) and removes it from every hierarchy,
 * so that no group outlives the platform. Fails naming the groups it could not remove.
 */
export async function removeNodeCgroups(name: string, root = CGROUP_ROOT): Promise<void> {
  if (!SAFE_NAME.test(name)) throw new Error(`unsafe cgroup name ${JSON.stringify(name)}`);
  let left: string[] = [];
  for (let attempt = 0; attempt < 100; attempt++) {
    left = [];
    for (const dir of groupDirs(name, root)) {
      try {
        for (const pid of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
          try {
            process.kill(Number(pid), 'SIGKILL');
          } catch {
            // Exited meanwhile.
          }
        }
        rmdirSync(dir);
      } catch {
        left.push(dir);
      }
    }
    if (!left.length) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`could not remove the node's control groups: ${left.join(', ')}`);
}
