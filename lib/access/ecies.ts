import { decrypt, encrypt } from 'eciesjs';
import { SigningKey, getBytes, hexlify, isHexString } from 'ethers';

/**
 * ECIES on secp256k1 as Ocean's provider does it (eciespy): uncompressed ephemeral key, HKDF-SHA256 over the
 * uncompressed ephemeral key and shared point, AES-256-GCM with a 16-byte nonce; ciphertext travels as 0x-hex.
 * eciesjs' defaults are exactly that format.
 */

/** The uncompressed public key (0x04…, 65 bytes) documents are encrypted to; from a private or public key. */
export function providerPublicKey(key: string): string {
  return SigningKey.computePublicKey(key, false);
}

/** Encrypts to a provider's public key; returns 0x-hex, what `POST /api/services/encrypt` answers. */
export function eciesEncrypt(publicKey: string, plaintext: Uint8Array): string {
  return hexlify(encrypt(getBytes(providerPublicKey(publicKey)), plaintext));
}

/**
 * Decrypts with the provider's private key. Accepts bytes or hex with or without 0x (Ocean's provider accepts both).
 * Throws on anything that is not a ciphertext for this key.
 */
export function eciesDecrypt(privateKey: string, ciphertext: Uint8Array | string): Uint8Array {
  const bytes = typeof ciphertext === 'string' ? hexToBytes(ciphertext) : ciphertext;
  return new Uint8Array(decrypt(getBytes(privateKey), bytes));
}

function hexToBytes(hex: string): Uint8Array {
  const prefixed = hex.startsWith('0x') || hex.startsWith('0X') ? '0x' + hex.slice(2) : '0x' + hex;
  if (!isHexString(prefixed) || prefixed.length % 2 !== 0) throw new Error('ciphertext is not hex');
  return getBytes(prefixed);
}
