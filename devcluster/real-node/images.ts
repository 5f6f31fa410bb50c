import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheDir, pinnedVersions } from '../binaries.ts';
import { containerdRoot, startContainerd, type Containerd } from './containerd.ts';
import { ensureSeed, linkTree } from './containerd-seed.ts';
import type { NodeNamespace } from './node-namespace.ts';

const here = dirname(fileURLToPath(import.meta.url));
export const NODE_IMAGES = ['pause', 'debian', 'python', 'node'] as const;

export function pauseImage(): string {
  return `c2d.local/pause:${pinnedVersions().KUBERNETES_VERSION}`;
}

/** The cluster services run as pods, wrapped by build-service-images.sh. */
export const SERVICE_IMAGES = ['coredns'] as const;

export function corednsImage(): string {
  return `c2d.local/coredns:${pinnedVersions().COREDNS_VERSION}`;
}

/** The project's own images (docker/*.Dockerfile), built by build-project-images.sh under the names the manifests use. */
export const PROJECT_IMAGES = ['functions', 'engine', 'pod-programs'] as const;
// A cold build of the three runs `npm ci` and the TypeScript compiler: minutes on a loaded two-core machine.
const PROJECT_BUILD_TIMEOUT_MS = 30 * 60_000;

type Archives = Record<
  (typeof NODE_IMAGES)[number] | (typeof SERVICE_IMAGES)[number] | (typeof PROJECT_IMAGES)[number],
  string
>;

/** Runs an image build script (`bash SCRIPT all`), passing its progress lines to `report`; throws naming `what`. */
export function runBuildScript(script: string, what: string, report: (m: string) => void, timeout?: number): void {
  const res = spawnSync('bash', [script, 'all'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout,
  });
  for (const line of `${res.stdout}${res.stderr}`.split('\n').filter(Boolean)) report(line);
  if (res.error || res.status !== 0)
    throw new Error(
      `building ${what} failed (${res.error ? res.error.message : `exit ${res.status}`}): ${res.stderr.trim().split('\n').slice(-3).join(' | ')}`,
    );
}

/**
 * The image archives, built by build-images.sh, build-service-images.sh and build-project-images.sh unless cached (each checks its cache by
 * the images' inputs in about a second; a cold build takes minutes and prints its progress).
 */
export function ensureImageArchives(report: (m: string) => void): Archives {
  runBuildScript(join(here, 'build-images.sh'), "the node's images", report);
  runBuildScript(join(here, 'build-service-images.sh'), "the cluster services' images", report);
  runBuildScript(join(here, 'build-project-images.sh'), "the project's images", report, PROJECT_BUILD_TIMEOUT_MS);
  const current = (name: string): string => readFileSync(join(cacheDir(), 'images', `${name}.current`), 'utf8').trim();
  const names = [...NODE_IMAGES, ...SERVICE_IMAGES, ...PROJECT_IMAGES];
  return Object.fromEntries(names.map((n) => [n, current(n)])) as Archives;
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

/**
 * Gives the instance's containerd (not started yet) a root holding every image: hard links to the seed for these
 * archives (containerd-seed.ts), which is made first when missing, by a containerd of its own in the node's
 * namespace (its unpacking mounts stay there) importing what changed.
 */
export async function seedImages(
  ns: NodeNamespace,
  opts: { stateDir: string; logDir: string; archives: Record<string, string>; report: (m: string) => void },
): Promise<void> {
  const version = execFileSync('containerd', ['--version'], { encoding: 'utf8' }).trim();
  const seed = await ensureSeed(
    version,
    opts.archives,
    async (root, archives) => {
      const t0 = Date.now();
      const builder = await startContainerd(ns, {
        stateDir: opts.stateDir,
        logDir: opts.logDir,
        sandboxImage: pauseImage(),
        root,
        name: 'containerd-seed',
      });
      try {
        await importImages(builder, archives);
      } finally {
        await builder.process.stop();
      }
      opts.report(`images imported into the containerd seed in ${Date.now() - t0} ms`);
    },
    opts.report,
  );
  const root = containerdRoot(opts.stateDir);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(dirname(root), { recursive: true });
  linkTree(join(seed, 'root'), root);
}
