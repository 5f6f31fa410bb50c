import { getAddress } from 'ethers';
import { unauthorized } from '../http/errors.ts';
import type { Caller } from './authenticate.ts';
import { tokenFromAuthorization } from './auth-token.ts';
import { commandText, type V2Command } from './command-texts.ts';
import type { NonceStore } from './nonce-store.ts';
import { isCommandSignedByAccount, type ContractSigners } from './contract-signature.ts';
import type { TokenStore } from './token-store.ts';

/** How a v2 request proves its caller: a command-bound signature, or an auth token in `Authorization`. */
export interface V2Credentials {
  /** The `Authorization` header, if any. */
  authorization: string | undefined;
  consumerAddress: string | undefined;
  nonce: bigint | undefined;
  signature: string | undefined;
}

export interface V2AuthDeps {
  /** The v2 nonce counter (nonce-store.ts V2_NONCES). */
  nonces: NonceStore;
  tokens: TokenStore;
  /** ERC-1271 contract accounts (contract-signature.ts); absent without a chain to ask. */
  contractSigners?: ContractSigners | undefined;
  now?: () => Date;
}

/**
 * 401 unless the request is signed by its consumerAddress (or, a contract account, accepted by its ERC-1271
 * isValidSignature) over `address + nonce + command` with a nonce the v2
 * counter accepts now, or carries a live token (and then names no other consumerAddress). With a signature, the
 * caller commits the nonce just before its one change (authenticate.ts); a token moves no nonce.
 */
export async function authenticateV2(deps: V2AuthDeps, command: V2Command, creds: V2Credentials): Promise<Caller> {
  const { consumerAddress, nonce, signature } = creds;
  if (signature !== undefined || nonce !== undefined) {
    if (consumerAddress === undefined || signature === undefined || nonce === undefined) {
      throw unauthorized('a signed request needs consumerAddress, nonce and signature');
    }
    const text = commandText(consumerAddress, nonce, command);
    if (!(await isCommandSignedByAccount(consumerAddress, text, signature, deps.contractSigners))) {
      throw unauthorized('signature does not match consumerAddress');
    }
    await deps.nonces.assertFresh(consumerAddress, nonce);
    return {
      address: getAddress(consumerAddress),
      commitNonce: () => deps.nonces.advance(consumerAddress, nonce),
    };
  }
  const token = tokenFromAuthorization(creds.authorization);
  if (token === undefined) {
    throw unauthorized('needs consumerAddress, nonce and signature, or an auth token in the Authorization header');
  }
  const owner = await deps.tokens.owner(token, (deps.now ?? (() => new Date()))());
  if (owner === undefined) throw unauthorized('the auth token is unknown, expired or invalidated');
  if (consumerAddress !== undefined && consumerAddress.toLowerCase() !== owner) {
    throw unauthorized('the auth token belongs to another address than consumerAddress');
  }
  return { address: getAddress(owner), commitNonce: async () => {} };
}

/** A v2 request's credentials: its `Authorization` header and the signed fields of its body or query. */
export function v2Credentials(
  authorization: string | undefined,
  fields: { consumerAddress?: string | undefined; nonce?: bigint | undefined; signature?: string | undefined },
): V2Credentials {
  return {
    authorization,
    consumerAddress: fields.consumerAddress,
    nonce: fields.nonce,
    signature: fields.signature,
  };
}
