import { createCipheriv, type Cipheriv } from 'node:crypto';
import { decrypt, PrivateKey, PublicKey } from 'eciesjs';
import { OUTPUT_CIPHERTEXT_MAX_BYTES, OutputTargetError } from './output-target.ts';

/**
 * The output key: a secp256k1 key pair of its own, whose public key `GET /v2` advertises as `nodePublicKey` (ocean.js
 * 8.x encrypts `output` and `encryptedDockerRegistryAuth` to it, nothing else) and whose private key only the publish
 * pods hold (the `c2d-output-key` Secret). The provider's chain key never leaves start, initialize and the engine.
 */

/** A 0x-hex private key, from a Secret's file (whitespace trimmed); throws naming what is wrong, never the key. */
export function parseOutputPrivateKey(text: string): PrivateKey {
  const hex = text.trim().replace(/^0x/, '');
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new OutputTargetError("this provider's output key is not 32 bytes of hex");
  return PrivateKey.fromHex(hex);
}

/**
 * The public key as `nodePublicKey` is served: compressed (33 bytes, 0x02/0x03…), as ocean-node serves its node key,
 * so that the AES initialization vector below is, as there, the first 16 bytes of `nodePublicKey`.
 */
export function outputPublicKey(key: PrivateKey | string): string {
  const pub = typeof key === 'string' ? PublicKey.fromHex(key.replace(/^0x/, '')) : key.publicKey;
  return `0x${pub.toHex(true)}`;
}

/** Decrypts the job's `output` and reads it as JSON; a ciphertext for another key, or not JSON, is refused. */
export function decryptOutput(key: PrivateKey, ciphertextHex: string): unknown {
  const hex = ciphertextHex.trim().replace(/^0x/, '');
  if (!/^([0-9a-fA-F]{2})+$/.test(hex) || hex.length > 2 * OUTPUT_CIPHERTEXT_MAX_BYTES)
    throw new OutputTargetError('output is not a ciphertext');
  let plain: Buffer;
  try {
    plain = decrypt(key.secret, Buffer.from(hex, 'hex'));
  } catch {
    throw new OutputTargetError("output could not be decrypted with this provider's output key (nodePublicKey)");
  }
  try {
    return JSON.parse(plain.toString('utf8'));
  } catch {
    throw new OutputTargetError('output decrypts to something that is not JSON');
  }
}

/**
 * ocean-node's output encryption (KeyManager encryptStream, AES): AES-256-CBC with PKCS#7 padding, the key's first 32
 * bytes, and the first 16 bytes of the node's compressed public key as the initialization vector. The consumer
 * decrypts with its key and `nodePublicKey`. Note the vector is the same for every job of this provider: two archives
 * under one key reveal whether they begin alike; use a fresh key per job.
 */
export function outputCipher(aesKey: Buffer, publicKeyHex: string): Cipheriv {
  const iv = Buffer.from(publicKeyHex.replace(/^0x/, ''), 'hex').subarray(0, 16);
  return createCipheriv('aes-256-cbc', aesKey.subarray(0, 32), iv);
}

/** The length of `plainLength` bytes after outputCipher (CBC with PKCS#7 always adds 1–16 bytes). */
export function outputCipherLength(plainLength: number): number {
  return (Math.floor(plainLength / 16) + 1) * 16;
}
