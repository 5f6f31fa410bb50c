import { getAddress } from 'ethers';
import { unauthorized } from '../http/errors.ts';
import type { NonceStore } from './nonce-store.ts';
import { isSignedBy } from './signature.ts';

export interface SignedText {
  /** The address as the caller wrote it (ocean.js signs it verbatim). */
  address: string;
  signature: string;
  /** The one text a valid signature covers, built by signed-texts.ts from the request's fields. */
  message: string;
}

export interface SignedRequest extends SignedText {
  /** The nonce the message covers. */
  nonce: bigint;
}

export interface Caller {
  /** Checksummed address of the signer. */
  address: string;
  /**
   * Accepts the nonce. Call it once the request is authorised and just before the one change it makes, so a
   * rejected request stores nothing; it still fails (401) if a concurrent request used the nonce first.
   */
  commitNonce(): Promise<void>;
}

/**
 * 401 unless the signature is the address's over the message. For a text that covers no nonce (ocean.js 3.x's stop):
 * such a request must change nothing when replayed, and must not touch the address's nonce.
 */
export function authenticateText(request: SignedText): string {
  if (!isSignedBy(request.address, request.message, request.signature)) {
    throw unauthorized('signature does not match consumerAddress');
  }
  return getAddress(request.address);
}

/** 401 unless the signature is the address's over the message and the nonce it covers may be accepted now. */
export async function authenticate(nonces: NonceStore, request: SignedRequest): Promise<Caller> {
  const address = authenticateText(request);
  await nonces.assertFresh(request.address, request.nonce);
  return { address, commitNonce: () => nonces.advance(request.address, request.nonce) };
}
