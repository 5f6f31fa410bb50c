import { realpathSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The project's own Node (the npm package `node` in package.json) by its real path: what `node:*` images and the pod
 * programs run on this node. The machine's /usr/bin/node may be another (older) release; the sandbox sees this file
 * through a read-only bind of its directory.
 */
export function projectNodeBinary(projectRoot: string): string {
  const link = join(projectRoot, 'node_modules', '.bin', 'node');
  try {
    return realpathSync(link);
  } catch (err) {
    throw new Error(
      `the project's Node is missing at ${link} (run npm ci; package.json's "node" dependency brings it): ${(err as Error).message}`,
      { cause: err },
    );
  }
}
