import { AccessDenied, deny } from './errors.ts';

/**
 * The "compressed" metadata flag means Python's `lzma.compress` output, which is the .xz container by default (Ocean's
 * publishers compress that way; Ocean's provider decompresses with `lzma.decompress`). xz-decompress runs
 * xz-embedded as WebAssembly: no native build, and output arrives in chunks, so a decompression bomb is stopped at
 * the cap instead of filling memory.
 */

// Loaded on first use: compressed DDOs are rare, and every function's cold start would pay ~30 ms for the decoder.
// The package is a UMD bundle: Node's ESM loader exposes it only as `default`, tsx and vitest also by name.
let decoder: Promise<typeof import('xz-decompress').XzReadableStream> | undefined;
const loadDecoder = () =>
  (decoder ??= import('xz-decompress').then((m) => m.XzReadableStream ?? m.default.XzReadableStream));

const XZ_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
// Integrity checks xz-embedded handles: none, CRC32, CRC64 (lzma.compress's default); not SHA-256.
const SUPPORTED_CHECKS = new Set([0x00, 0x01, 0x04]);

function assertXzHeader(data: Uint8Array): void {
  if (data.length < 12 || XZ_MAGIC.some((b, i) => data[i] !== b)) {
    throw deny(
      'DDO_COMPRESSED_UNSUPPORTED',
      'the compressed DDO is not in the .xz format (what lzma.compress writes by default); legacy .lzma and raw streams are not supported',
    );
  }
  // Stream flags: a zero byte, then the check id in the low nibble (the high one is reserved, zero).
  const flags = ((data[6] ?? 0) << 8) | (data[7] ?? 0);
  if (!SUPPORTED_CHECKS.has(flags)) {
    throw deny(
      'DDO_COMPRESSED_UNSUPPORTED',
      `the compressed DDO's xz stream flags 0x${flags.toString(16)} name an integrity check other than none, CRC32 or CRC64`,
    );
  }
}

/**
 * Decompresses an .xz payload (one or more concatenated streams, as `lzma.decompress` accepts) to at most `maxBytes`.
 * Refusals: DDO_COMPRESSED_UNSUPPORTED (not .xz, or an unsupported check), DDO_TOO_LARGE (over the cap),
 * DDO_NOT_DECOMPRESSABLE (corrupt or truncated).
 */
export async function decompressXz(data: Uint8Array, maxBytes: number): Promise<Uint8Array> {
  assertXzHeader(data);
  const input = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(data);
      controller.close();
    },
  });
  const reader = new (await loadDecoder())(input).getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  let done = false;
  try {
    for (;;) {
      const next = await reader.read();
      if (next.done) break;
      total += next.value.byteLength;
      if (total > maxBytes) throw deny('DDO_TOO_LARGE', `the compressed DDO expands to more than ${maxBytes} bytes`);
      chunks.push(next.value);
    }
    done = true;
  } catch (err) {
    if (err instanceof AccessDenied) throw err;
    throw deny('DDO_NOT_DECOMPRESSABLE', 'the compressed DDO is corrupt or truncated');
  } finally {
    // The library runs one decompression at a time: a stream left unread would block every later one.
    if (!done) await reader.cancel().catch(() => undefined);
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}
