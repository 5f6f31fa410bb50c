import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import { cacheDir } from '../binaries.ts';

/**
 * A containerd root with the node's images already imported and unpacked, shared by every instance through hard
 * links. Importing the seven archives takes 45–55 s at each start; linking a seed's files into an instance's root
 * takes a few seconds. It is safe because containerd never writes to a committed layer or a content blob: a
 * container writes to a snapshot of its own, and removing an image only unlinks the instance's names. Its two bolt
 * databases are the only files written in place, so each instance gets copies of them.
 *
 * A seed is keyed by containerd's version and the archives it holds (their file names carry their inputs' key).
 * When none matches, the newest seed is the start, and only the archives that changed are imported into it.
 */

/** Files containerd writes in place: never linked, always copied. */
const WRITTEN_IN_PLACE = /\.db$/;

export interface SeedManifest {
  key: string;
  /** Image name → the archive imported for it. */
  archives: Record<string, string>;
}

export function seedsDir(): string {
  return join(cacheDir(), 'containerd-seeds');
}

export function seedKey(containerdVersion: string, archives: Record<string, string>): string {
  const entries = Object.entries(archives)
    .map(([name, file]) => `${name}=${basename(file)}`)
    .sort();
  return createHash('sha256')
    .update(JSON.stringify([containerdVersion, entries]))
    .digest('hex')
    .slice(0, 16);
}

/** The archives that `wanted` has and `held` does not hold under the same name. */
export function archivesToImport(
  wanted: Record<string, string>,
  held: Record<string, string> = {},
): Record<string, string> {
  return Object.fromEntries(Object.entries(wanted).filter(([name, file]) => held[name] !== file));
}

function readManifest(dir: string): SeedManifest | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as SeedManifest;
  } catch {
    return undefined;
  }
}

/** The complete seeds (those with a manifest), newest first. */
function seeds(): { dir: string; manifest: SeedManifest }[] {
  const root = seedsDir();
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((n) => !n.startsWith('.'))
    .map((n) => ({ dir: join(root, n), manifest: readManifest(join(root, n)) }))
    .filter((s): s is { dir: string; manifest: SeedManifest } => s.manifest !== undefined)
    .sort((a, b) => statSync(b.dir).mtimeMs - statSync(a.dir).mtimeMs);
}

/** `to` becomes a tree of hard links to `from`'s files, except the databases, which are copied. */
export function linkTree(from: string, to: string): void {
  execFileSync('cp', ['-al', from, to]);
  const copyDatabases = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      // Only containerd's own directories hold databases; the unpacked layers are left alone.
      if (e.isDirectory() && e.name !== 'snapshots' && e.name !== 'blobs') copyDatabases(path);
      else if (e.isFile() && WRITTEN_IN_PLACE.test(e.name)) {
        unlinkSync(path);
        copyFileSync(join(from, path.slice(to.length)), path);
      }
    }
  };
  copyDatabases(to);
}

export interface SeedBuilder {
  /** Imports the archives into a containerd whose root is `root`, and stops it. */
  (root: string, archives: Record<string, string>): Promise<void>;
}

/**
 * The seed for these archives: found, or made from the newest seed plus the archives that changed (or from
 * nothing). Seeds older than the two newest are removed: instances made from them keep their own links.
 */
export async function ensureSeed(
  containerdVersion: string,
  archives: Record<string, string>,
  build: SeedBuilder,
  report: (m: string) => void,
): Promise<string> {
  const key = seedKey(containerdVersion, archives);
  const dir = join(seedsDir(), key);
  if (readManifest(dir)) return dir;
  mkdirSync(seedsDir(), { recursive: true });
  const base = seeds()[0];
  const staging = mkdtempSync(join(seedsDir(), '.build-'));
  try {
    const root = join(staging, 'root');
    if (base) linkTree(join(base.dir, 'root'), root);
    const changed = archivesToImport(archives, base?.manifest.archives);
    report(
      `containerd seed ${key}: importing ${Object.keys(changed).join(', ')}${base ? ` onto seed ${base.manifest.key}` : ''}`,
    );
    await build(root, changed);
    writeFileSync(join(staging, 'manifest.json'), JSON.stringify({ key, archives } satisfies SeedManifest, null, 2));
    try {
      renameSync(staging, dir);
    } catch (err) {
      // Another start made the same seed meanwhile: use that one.
      if (!readManifest(dir)) throw err;
      rmSync(staging, { recursive: true, force: true });
    }
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
  // The one before stays: a start may still be linking from it.
  for (const old of seeds().slice(2)) rmSync(old.dir, { recursive: true, force: true });
  return dir;
}
