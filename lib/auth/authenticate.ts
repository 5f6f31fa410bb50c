import { getAddress } from 'ethers';
import { unauthorized } from '../http/errors.ts';
import type { NonceStore } from './nonce-store.ts';
import { isSignedBy } from './signature.ts';

export interface SignedRequest {
  /** The address as the caller wrote it (ocean.js signs it verbatim). */
  address: string;
  nonce: bigint;
  signature: string;
  /** The messages a valid signature may cover, in the order tried; the nonce is part of each where the client signs it. */
  messages: readonly string[];
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

/** 401 unless the signature is the address's over one of the messages and the nonce is fresh. */
export async function authenticate(nonces: NonceStore, request: SignedRequest): Promise<Caller> {
  if (!request.messages.some((m) => isSignedBy(request.address, m, request.signature))) {
    throw unauthorized('signature does not match consumerAddress');
  }
  await nonces.assertFresh(request.address, request.nonce);
  return {
    address: getAddress(request.address),
    commitNonce: () => nonces.advance(request.address, request.nonce),
  };
}
