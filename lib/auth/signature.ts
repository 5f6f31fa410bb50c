import { getBytes, keccak256, toUtf8Bytes, verifyMessage } from 'ethers';

/**
 * The bytes ocean.js 3.x signs for a provider request: `signer.signMessage(arrayify(solidityKeccak256(['bytes'],
 * [utf8(message)])))`, i.e. an EIP-191 personal message whose payload is the 32-byte keccak256 of the UTF-8 text.
 */
export function providerRequestDigest(message: string): Uint8Array {
  return getBytes(keccak256(toUtf8Bytes(message)));
}

/** The address that signed `message` the ocean.js way, or undefined when the signature does not parse. */
export function recoverRequestSigner(message: string, signature: string): string | undefined {
  try {
    // ethers normalises v of 0/1 (legacy eth_sign, ganache) to 27/28, the same values Ocean Provider accepts.
    return verifyMessage(providerRequestDigest(message), signature);
  } catch {
    return undefined;
  }
}

export function isSignedBy(address: string, message: string, signature: string): boolean {
  const signer = recoverRequestSigner(message, signature);
  return signer !== undefined && signer.toLowerCase() === address.toLowerCase();
}

/**
 * ocean.js 8.x signs `toBeArray(solidityPackedKeccak256(text))`, which drops the hash's leading zero bytes (1 hash
 * in 256 starts with one); ocean-node accepts both that and the full 32 bytes. So does this: both are the same text's
 * hash, so neither widens what a signature covers.
 */
export function isCommandSignedBy(address: string, message: string, signature: string): boolean {
  const digest = providerRequestDigest(message);
  let start = 0;
  while (start < digest.length - 1 && digest[start] === 0) start++;
  const candidates = start === 0 ? [digest] : [digest, digest.slice(start)];
  return candidates.some((bytes) => {
    try {
      return verifyMessage(bytes, signature).toLowerCase() === address.toLowerCase();
    } catch {
      return false;
    }
  });
}
