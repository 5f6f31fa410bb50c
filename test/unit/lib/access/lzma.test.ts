import { concat, getBytes, toUtf8Bytes, toUtf8String } from 'ethers';
import { describe, expect, it } from 'vitest';
import { decompressXz } from '../../../../lib/access/lzma.ts';
import { LZMA_ALONE, XZ_BOMB_5_MIB, XZ_DEFAULT, XZ_DOCUMENT, XZ_SHA256_CHECK } from './xz-fixtures.ts';

const MiB = 1024 * 1024;

describe('decompressXz', () => {
  it("reads what Python's lzma.compress writes by default", async () => {
    expect(toUtf8String(await decompressXz(getBytes(XZ_DEFAULT), MiB))).toBe(XZ_DOCUMENT);
  });

  it('reads concatenated streams whole, as lzma.decompress does', async () => {
    const twice = await decompressXz(getBytes(concat([XZ_DEFAULT, XZ_DEFAULT])), MiB);
    expect(toUtf8String(twice)).toBe(XZ_DOCUMENT + XZ_DOCUMENT);
  });

  it('stops a decompression bomb at the cap', async () => {
    await expect(decompressXz(getBytes(XZ_BOMB_5_MIB), MiB)).rejects.toMatchObject({
      code: 'DDO_TOO_LARGE',
      httpStatus: 403,
    });
    expect((await decompressXz(getBytes(XZ_BOMB_5_MIB), 5 * MiB)).length).toBe(5 * MiB);
  });

  it('refuses what is not .xz, naming the format', async () => {
    await expect(decompressXz(getBytes(LZMA_ALONE), MiB)).rejects.toMatchObject({
      code: 'DDO_COMPRESSED_UNSUPPORTED',
      message: expect.stringContaining('.xz'),
    });
    await expect(decompressXz(toUtf8Bytes(XZ_DOCUMENT), MiB)).rejects.toMatchObject({
      code: 'DDO_COMPRESSED_UNSUPPORTED',
    });
    await expect(decompressXz(new Uint8Array(0), MiB)).rejects.toMatchObject({ code: 'DDO_COMPRESSED_UNSUPPORTED' });
  });

  it('refuses an integrity check the decoder cannot verify', async () => {
    await expect(decompressXz(getBytes(XZ_SHA256_CHECK), MiB)).rejects.toMatchObject({
      code: 'DDO_COMPRESSED_UNSUPPORTED',
    });
  });

  it('refuses truncated and corrupt data', async () => {
    const xz = getBytes(XZ_DEFAULT);
    await expect(decompressXz(xz.slice(0, xz.length - 12), MiB)).rejects.toMatchObject({
      code: 'DDO_NOT_DECOMPRESSABLE',
    });
    await expect(decompressXz(xz.slice(0, 40), MiB)).rejects.toMatchObject({ code: 'DDO_NOT_DECOMPRESSABLE' });
    const corrupt = xz.slice();
    corrupt[60] = corrupt[60]! ^ 0xff;
    await expect(decompressXz(corrupt, MiB)).rejects.toMatchObject({ code: 'DDO_NOT_DECOMPRESSABLE' });
  });

  it('keeps working after refusals, and for concurrent callers', async () => {
    const xz = getBytes(XZ_DEFAULT);
    const results = await Promise.allSettled([
      decompressXz(getBytes(XZ_BOMB_5_MIB), 64 * 1024),
      decompressXz(xz.slice(0, 50), MiB),
      ...Array.from({ length: 5 }, () => decompressXz(xz, MiB)),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', ...Array<string>(5).fill('fulfilled')]);
    expect(toUtf8String(await decompressXz(xz, MiB))).toBe(XZ_DOCUMENT);
  });
});
