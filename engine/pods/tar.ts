/**
 * A tar archive writer (POSIX pax), for the outputs a v2 job sends to its own storage target: ocean-node sends the
 * Docker archive of /data/outputs, whose entries are `outputs/…`. Written by hand because the archive's length must be
 * known before it is sent (one S3 PutObject and a presigned PUT URL both need Content-Length), which a streaming tar
 * library such as tar-stream cannot tell in advance. Every entry carries a pax `path` record, so any name of any
 * length is kept exactly, and its length follows from the names and sizes alone.
 */

const BLOCK = 512;
/** The ustar size field holds 11 octal digits. */
export const TAR_MAX_FILE_BYTES = 8 ** 11 - 1;

export interface TarEntry {
  /** `/`-separated path inside the archive; a directory's ends in `/`. */
  path: string;
  /** Bytes of a file; 0 for a directory. */
  size: number;
}

const padded = (n: number): number => Math.ceil(n / BLOCK) * BLOCK;

/** `"<len> path=<path>\n"`, where <len> counts the whole record, its own digits included. */
function paxRecord(key: string, value: string): Buffer {
  const rest = ` ${key}=${value}\n`;
  const restBytes = Buffer.byteLength(rest);
  let len = restBytes + 1;
  while (String(len).length + restBytes !== len) len = String(len).length + restBytes;
  return Buffer.from(`${len}${rest}`);
}

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

/** One 512-byte ustar header. `name` is what readers without pax see: ASCII, at most 100 bytes. */
function ustarHeader(name: string, size: number, type: '0' | '5' | 'x', mtime: number): Buffer {
  if (size > TAR_MAX_FILE_BYTES) throw new Error(`a file of ${size} bytes is too large for a tar archive`);
  const h = Buffer.alloc(BLOCK);
  h.write(name.replace(/[^\x20-\x7e]/g, '_').slice(0, 100), 0, 'ascii');
  h.write(octal(type === '5' ? 0o755 : 0o644, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii');
  h.write(octal(0, 8), 116, 'ascii');
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(mtime, 12), 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write(type, 156, 'ascii');
  h.write('ustar\x0000', 257, 'ascii');
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}

/** Everything that precedes an entry's content: its pax header and data, and its ustar header. */
export function entryHeader(entry: TarEntry, mtime: number): Buffer {
  const dir = entry.path.endsWith('/');
  const pax = paxRecord('path', entry.path);
  return Buffer.concat([
    ustarHeader('PaxHeader', pax.length, 'x', mtime),
    pax,
    Buffer.alloc(padded(pax.length) - pax.length),
    ustarHeader(entry.path, dir ? 0 : entry.size, dir ? '5' : '0', mtime),
  ]);
}

/** The zero blocks after an entry's content of `size` bytes, to the next block boundary. */
export function entryPadding(size: number): Buffer {
  return Buffer.alloc(padded(size) - size);
}

/** Two zero blocks end an archive. */
export const TAR_END = Buffer.alloc(2 * BLOCK);

/** The archive's exact length in bytes. */
export function tarLength(entries: readonly TarEntry[]): number {
  let n = TAR_END.length;
  for (const e of entries) {
    const pax = paxRecord('path', e.path).length;
    n += BLOCK + padded(pax) + BLOCK + padded(e.path.endsWith('/') ? 0 : e.size);
  }
  return n;
}
