import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';

/**
 * Lists the regular files under a directory for upload, refusing anything that would let a job publish what is
 * not its own output: symlinks that resolve outside the directory, symlinked directories (loops), and special
 * files (FIFOs, sockets, devices). Paths are kept, `/`-separated and relative to the directory.
 */

export interface WalkedFile {
  /** `/`-separated path relative to the walked directory. */
  relative: string;
  /** The file to read: the resolved path, inside the walked directory. */
  absolute: string;
  size: number;
}

export interface RefusedEntry {
  relative: string;
  reason: string;
}

export interface WalkResult {
  files: WalkedFile[];
  refused: RefusedEntry[];
}

function hasControlCharacter(name: string): boolean {
  for (const ch of name) {
    const c = ch.codePointAt(0)!;
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

function isInside(root: string, candidate: string): boolean {
  return candidate === root || candidate.startsWith(root.endsWith(sep) ? root : root + sep);
}

/** `maxPathBytes` bounds a path's UTF-8 length: a longer one is refused, and a directory's whole subtree with it. */
export async function walkFiles(dir: string, maxFiles = 10_000, maxPathBytes = 4096): Promise<WalkResult> {
  const result: WalkResult = { files: [], refused: [] };
  let root: string;
  try {
    root = await realpath(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return result;
    throw err;
  }
  if (!(await stat(root)).isDirectory()) throw new Error(`${dir} is not a directory`);

  const visit = async (absDir: string, relDir: string): Promise<void> => {
    const entries = await readdir(absDir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const relative = relDir ? `${relDir}/${entry.name}` : entry.name;
      const path = join(absDir, entry.name);
      // Control characters could forge lines in the publish log the consumer reads.
      if (entry.name.includes('/') || entry.name === '..' || entry.name === '.' || hasControlCharacter(entry.name)) {
        result.refused.push({ relative, reason: 'unsafe name' });
        continue;
      }
      if (Buffer.byteLength(relative) > maxPathBytes) {
        result.refused.push({ relative, reason: `path longer than ${maxPathBytes} bytes` });
        continue;
      }
      const info = await lstat(path);
      if (info.isDirectory()) {
        await visit(path, relative);
        continue;
      }
      let target = path;
      let targetInfo = info;
      if (info.isSymbolicLink()) {
        try {
          target = await realpath(path);
        } catch {
          result.refused.push({ relative, reason: 'symlink leads nowhere' });
          continue;
        }
        if (!isInside(root, target)) {
          result.refused.push({ relative, reason: 'symlink leads outside the directory' });
          continue;
        }
        targetInfo = await stat(target);
        if (targetInfo.isDirectory()) {
          result.refused.push({ relative, reason: 'symlinked directory' });
          continue;
        }
      }
      if (!targetInfo.isFile()) {
        result.refused.push({ relative, reason: 'not a regular file' });
        continue;
      }
      if (result.files.length >= maxFiles) {
        result.refused.push({ relative, reason: `more than ${maxFiles} files` });
        continue;
      }
      result.files.push({ relative, absolute: target, size: targetInfo.size });
    }
  };
  await visit(root, '');
  return result;
}
