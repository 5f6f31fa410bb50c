import { createDecipheriv, randomBytes } from 'node:crypto';
import { encrypt, PublicKey } from 'eciesjs';
import { Wallet } from 'ethers';
import { describe, expect, it } from 'vitest';
import {
  decryptOutput,
  outputCipher,
  outputCipherLength,
  outputPublicKey,
  parseOutputPrivateKey,
} from '../../../../lib/job/output-key.ts';
import { OutputTargetError } from '../../../../lib/job/output-target.ts';

const KEY_HEX = '0x' + '5a'.repeat(32);
const key = parseOutputPrivateKey(`${KEY_HEX}\n`);

/** What ocean.js 8.6.2's eciesencrypt does (src/utils/eciesencrypt.ts) with the nodePublicKey string it was served. */
function oceanJsEncrypt(nodePublicKey: string, content: string): string {
  const pk = PublicKey.fromHex(nodePublicKey.startsWith('0x') ? nodePublicKey : `0x${nodePublicKey}`);
  return Buffer.from(encrypt(pk.toHex(), new TextEncoder().encode(content))).toString('hex');
}

describe('the output key', () => {
  it('is served compressed, as ocean-node serves its node key, and is the same key ethers derives', () => {
    const served = outputPublicKey(key);
    expect(served).toMatch(/^0x0[23][0-9a-f]{64}$/);
    expect(served).toBe(new Wallet(KEY_HEX).signingKey.compressedPublicKey);
    expect(outputPublicKey(new Wallet(KEY_HEX).signingKey.publicKey)).toBe(served);
  });

  it('decrypts what ocean.js 8 encrypts to nodePublicKey', () => {
    const output = { remoteStorage: { type: 'url', url: 'https://p.example/' } };
    const hex = oceanJsEncrypt(outputPublicKey(key), JSON.stringify(output));
    expect(decryptOutput(key, hex)).toEqual(output);
    expect(decryptOutput(key, `0x${hex}\n`)).toEqual(output);
  });

  it('refuses a ciphertext for another key, garbage, and plaintext that is not JSON', () => {
    const other = new Wallet('0x' + '6b'.repeat(32)).signingKey.compressedPublicKey;
    const refused = (hex: string) => {
      try {
        decryptOutput(key, hex);
      } catch (err) {
        expect(err).toBeInstanceOf(OutputTargetError);
        return (err as Error).message;
      }
      throw new Error('decrypted');
    };
    expect(refused(oceanJsEncrypt(other, '{}'))).toMatch(/could not be decrypted with this provider's output key/);
    expect(refused('04' + randomBytes(120).toString('hex'))).toMatch(/could not be decrypted/);
    expect(refused('not hex')).toMatch(/not a ciphertext/);
    expect(refused(oceanJsEncrypt(outputPublicKey(key), 'plain words'))).toMatch(/not JSON/);
  });

  it('refuses a key file that is not 32 bytes of hex, without quoting it', () => {
    expect(() => parseOutputPrivateKey('0x1234')).toThrow("this provider's output key is not 32 bytes of hex");
    expect(() => parseOutputPrivateKey('zz'.repeat(32))).not.toThrow(/zz/);
  });
});

describe("ocean-node's output encryption", () => {
  it('is AES-256-CBC with the first 32 key bytes and the first 16 bytes of nodePublicKey as its vector', () => {
    const aesKey = randomBytes(40);
    const publicKey = outputPublicKey(key);
    for (const length of [0, 1, 15, 16, 17, 1000]) {
      const plain = randomBytes(length);
      const cipher = outputCipher(aesKey, publicKey);
      const sealed = Buffer.concat([cipher.update(plain), cipher.final()]);
      expect(sealed.length).toBe(outputCipherLength(length));
      const iv = Buffer.from(publicKey.slice(2), 'hex').subarray(0, 16);
      const decipher = createDecipheriv('aes-256-cbc', aesKey.subarray(0, 32), iv);
      expect(Buffer.concat([decipher.update(sealed), decipher.final()])).toEqual(plain);
    }
  });
});
