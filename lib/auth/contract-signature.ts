import { Interface, getBytes, hashMessage, hexlify, keccak256, toUtf8Bytes, type Provider } from 'ethers';
import { callView, rpc } from '../access/rpc.ts';
import { isCommandSignedBy } from './signature.ts';

/**
 * ERC-1271 contract signers (smart accounts) for v2 requests, as ocean-node's nonceHandler accepts them: when a
 * request's signature is not its address's own ECDSA signature and the address holds code, the contract is asked
 * `isValidSignature(hash, signature)` and must answer the magic value 0x1626ba7e. Every call is bounded by the RPC
 * timeout; a contract that reverts or answers anything else has not signed. Only asked after the ECDSA check
 * failed, so requests of ordinary accounts never reach the chain.
 */

export const ERC1271_MAGIC = '0x1626ba7e';
const ERC1271 = new Interface(['function isValidSignature(bytes32 hash, bytes signature) view returns (bytes4)']);

export interface ContractSigners {
  /** Whether the contract at `address` accepts `signature` for one of `hashes`; false for an address without code. */
  isValid(address: string, hashes: readonly string[], signature: string): Promise<boolean>;
}

/**
 * The hashes of a command text a contract account may have signed: ocean-node's two (keccak256 of the text, and the
 * EIP-191 hash of the text), and the EIP-191 hash of its keccak256, which is what ocean.js 8 asks a signer to sign.
 * All are of the same text, so none widens what a signature covers.
 */
export function contractSignedHashes(text: string): string[] {
  const digest = keccak256(toUtf8Bytes(text));
  return [digest, hashMessage(text), hashMessage(getBytes(digest))];
}

export function contractSigners(provider: Provider, timeoutMs: number): ContractSigners {
  return {
    async isValid(address, hashes, signature) {
      const code = await rpc(`code of ${address}`, () => provider.getCode(address), timeoutMs);
      if (code === '0x') return false;
      for (const hash of hashes) {
        const answer = await callView(provider, address, ERC1271, 'isValidSignature', [hash, signature], timeoutMs);
        if (answer && hexlify(answer[0] as string) === ERC1271_MAGIC) return true;
      }
      return false;
    },
  };
}

/** A v2 command text signed by `address`: its own ECDSA signature or, for a contract account, ERC-1271. */
export async function isCommandSignedByAccount(
  address: string,
  text: string,
  signature: string,
  contracts: ContractSigners | undefined,
): Promise<boolean> {
  if (isCommandSignedBy(address, text, signature)) return true;
  return contracts !== undefined && contracts.isValid(address, contractSignedHashes(text), signature);
}
