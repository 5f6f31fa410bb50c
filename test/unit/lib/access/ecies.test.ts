import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { SigningKey, Wallet, concat, getBytes, hexlify, toUtf8Bytes } from 'ethers';
import { describe, expect, it } from 'vitest';
import { eciesDecrypt, eciesEncrypt, providerPublicKey } from '../../../../lib/access/ecies.ts';
import { otherKey, providerKey } from './fixtures.ts';

/**
 * eciespy (what Ocean's provider runs), written out with node's crypto: ephemeral uncompressed public key (65) ||
 * nonce (16) || GCM tag (16) || ciphertext; AES key = HKDF-SHA256(ephemeral pub || uncompressed shared point).
 */
function eciespyKey(ephemeralPublic: Uint8Array, sharedPoint: Uint8Array): Buffer {
  return Buffer.from(
    hkdfSync('sha256', getBytes(concat([ephemeralPublic, sharedPoint])), new Uint8Array(0), new Uint8Array(0), 32),
  );
}

function eciespyEncrypt(receiverPublic: string, plaintext: Uint8Array): Uint8Array {
  const ephemeral = new SigningKey(hexlify(randomBytes(32)));
  const ephemeralPublic = getBytes(ephemeral.publicKey);
  const key = eciespyKey(ephemeralPublic, getBytes(ephemeral.computeSharedSecret(receiverPublic)));
  const nonce = randomBytes(16);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return getBytes(concat([ephemeralPublic, nonce, cipher.getAuthTag(), body]));
}

function eciespyDecrypt(receiverPrivate: string, ciphertext: Uint8Array): Buffer {
  const ephemeralPublic = ciphertext.slice(0, 65);
  const key = eciespyKey(
    ephemeralPublic,
    getBytes(new SigningKey(receiverPrivate).computeSharedSecret(ephemeralPublic)),
  );
  const decipher = createDecipheriv('aes-256-gcm', key, ciphertext.slice(65, 81));
  decipher.setAuthTag(ciphertext.slice(81, 97));
  return Buffer.concat([decipher.update(ciphertext.slice(97)), decipher.final()]);
}

const message = toUtf8Bytes(JSON.stringify({ files: [{ type: 'url', url: 'https://x.example/a' }] }));

describe('ECIES in Ocean provider format', () => {
  it('round-trips and answers 0x-hex', () => {
    const ciphertext = eciesEncrypt(providerKey.signingKey.publicKey, message);
    expect(ciphertext).toMatch(/^0x[0-9a-f]+$/);
    expect(getBytes(ciphertext).length).toBe(65 + 16 + 16 + message.length);
    expect(eciesDecrypt(providerKey.privateKey, ciphertext)).toEqual(message);
    expect(eciesDecrypt(providerKey.privateKey, ciphertext.slice(2))).toEqual(message);
    expect(eciesDecrypt(providerKey.privateKey, getBytes(ciphertext))).toEqual(message);
  });

  it('decrypts what eciespy produces, and eciespy decrypts what it produces', () => {
    const fromPy = eciespyEncrypt(providerKey.signingKey.publicKey, message);
    expect(eciesDecrypt(providerKey.privateKey, fromPy)).toEqual(message);
    const toPy = getBytes(eciesEncrypt(providerKey.signingKey.publicKey, message));
    expect(new Uint8Array(eciespyDecrypt(providerKey.privateKey, toPy))).toEqual(message);
  });

  it('accepts compressed, uncompressed and private keys for encryption', () => {
    const compressed = SigningKey.computePublicKey(providerKey.privateKey, true);
    expect(providerPublicKey(compressed)).toBe(providerKey.signingKey.publicKey);
    expect(providerPublicKey(providerKey.privateKey)).toBe(providerKey.signingKey.publicKey);
    expect(eciesDecrypt(providerKey.privateKey, eciesEncrypt(compressed, message))).toEqual(message);
  });

  it('fails with another key, a tampered ciphertext or non-hex', () => {
    const ciphertext = getBytes(eciesEncrypt(providerKey.signingKey.publicKey, message));
    expect(() => eciesDecrypt(otherKey.privateKey, ciphertext)).toThrow();
    const tampered = new Uint8Array(ciphertext);
    tampered[tampered.length - 1]! ^= 1;
    expect(() => eciesDecrypt(providerKey.privateKey, tampered)).toThrow();
    expect(() => eciesDecrypt(providerKey.privateKey, '0xzz')).toThrow();
    expect(() => eciesDecrypt(Wallet.createRandom().privateKey, ciphertext)).toThrow();
  });
});
