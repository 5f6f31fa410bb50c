import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheDir, pinnedVersions } from '../binaries.ts';
import type { Containerd } from './containerd.ts';

const here = dirname(fileURLToPath(import.meta.url));
export const NODE_IMAGES = ['pause', 'debian', 'python', 'node'] as const;

export function pauseImage(): string {
  return `c2d.local/pause:${pinnedVersions().KUBERNETES_VERSION}`;
}

/**
 * The image archives, built by build-images.sh unless cached (the script checks its cache by the images' inputs in
 * well under a second; a cold build takes a few minutes and prints its progress).
 */
export function ensureImageArchives(report: (m: string) => void): Record<(typeof NODE_IMAGES)[number], string> {
  const res = spawnSync('bash', [join(here, 'build-images.sh'), 'all'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const line of `${res.stdout}${res.stderr}`.split('\n').filter(Boolean)) report(line);
  if (res.status !== 0)
    throw new Error(
      `building the node's images failed (exit ${res.status}): ${res.stderr.trim().split('\n').slice(-3).join(' | ')}`,
    );
  const current = (name: string): string => readFileSync(join(cacheDir(), 'images', `${name}.current`), 'utf8').trim();
  return { pause: current('pause'), debian: current('debian'), python: current('python'), node: current('node') };
}

/** Imports the archives into the node's containerd under the names they carry (the names the pod specs use). */
export async function importImages(containerd: Containerd, archives: Record<string, string>): Promise<void> {
  for (const [name, file] of Object.entries(archives)) {
    try {
      await containerd.ctr(['images', 'import', file], 180_000);
    } catch (err) {
      throw new Error(`importing the ${name} image (${file}) into containerd failed: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
}
