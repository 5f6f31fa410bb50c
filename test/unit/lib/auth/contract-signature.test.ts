import { Wallet, getBytes, hashMessage, keccak256, toUtf8Bytes } from 'ethers';
import { describe, expect, it } from 'vitest';
import {
  contractSignedHashes,
  isCommandSignedByAccount,
  type ContractSigners,
} from '../../../../lib/auth/contract-signature.ts';
import { authenticateV2 } from '../../../../lib/auth/v2-authenticate.ts';
import type { NonceStore } from '../../../../lib/auth/nonce-store.ts';
import type { TokenStore } from '../../../../lib/auth/token-store.ts';
import { HttpError } from '../../../../lib/http/errors.ts';

const TEXT = '0x' + 'ab'.repeat(20) + '7startCompute';
const CONTRACT = '0x' + 'c0'.repeat(20);

/** A contract account that accepts exactly `accepted` for `hash`, and records what it was asked. */
function contracts(accepted: { hash: string; signature: string } | undefined) {
  const asked: Array<{ address: string; hashes: readonly string[] }> = [];
  const signers: ContractSigners = {
    isValid(address, hashes, signature) {
      asked.push({ address, hashes });
      return Promise.resolve(
        accepted !== undefined &&
          address === CONTRACT &&
          hashes.includes(accepted.hash) &&
          signature === accepted.signature,
      );
    },
  };
  return { signers, asked };
}

describe('contractSignedHashes', () => {
  it("is ocean-node's two hashes of the text and the EIP-191 hash of its keccak256", () => {
    const digest = keccak256(toUtf8Bytes(TEXT));
    expect(contractSignedHashes(TEXT)).toEqual([digest, hashMessage(TEXT), hashMessage(getBytes(digest))]);
  });
});

describe('isCommandSignedByAccount', () => {
  it("takes an account's own signature without asking any contract", async () => {
    const eoa = Wallet.createRandom();
    const signature = await eoa.signMessage(getBytes(keccak256(toUtf8Bytes(TEXT))));
    const { signers, asked } = contracts(undefined);
    expect(await isCommandSignedByAccount(eoa.address, TEXT, signature, signers)).toBe(true);
    expect(asked).toEqual([]);
  });

  it('asks the contract otherwise, with every hash of the text', async () => {
    const signature = '0x' + '11'.repeat(65);
    const { signers, asked } = contracts({ hash: hashMessage(TEXT), signature });
    expect(await isCommandSignedByAccount(CONTRACT, TEXT, signature, signers)).toBe(true);
    expect(asked).toEqual([{ address: CONTRACT, hashes: contractSignedHashes(TEXT) }]);
    expect(await isCommandSignedByAccount(CONTRACT, TEXT + 'x', signature, signers)).toBe(false);
  });

  it('refuses without a chain to ask', async () => {
    expect(await isCommandSignedByAccount(CONTRACT, TEXT, '0x' + '11'.repeat(65), undefined)).toBe(false);
  });
});

describe('authenticateV2 with a contract account', () => {
  const nonces: NonceStore = {
    current: () => Promise.resolve(0n),
    assertFresh: () => Promise.resolve(),
    advance: () => Promise.resolve(),
  } as unknown as NonceStore;
  const tokens = {} as TokenStore;
  const signature = '0x' + '22'.repeat(65);
  const text = `${CONTRACT}7startCompute`;

  it('admits the request when the contract accepts the signature of its text', async () => {
    const { signers } = contracts({ hash: keccak256(toUtf8Bytes(text)), signature });
    const caller = await authenticateV2({ nonces, tokens, contractSigners: signers }, 'startCompute', {
      authorization: undefined,
      consumerAddress: CONTRACT,
      nonce: 7n,
      signature,
    });
    expect(caller.address.toLowerCase()).toBe(CONTRACT);
  });

  it('answers 401 when it does not', async () => {
    const { signers } = contracts(undefined);
    const err = await authenticateV2({ nonces, tokens, contractSigners: signers }, 'startCompute', {
      authorization: undefined,
      consumerAddress: CONTRACT,
      nonce: 7n,
      signature,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpError);
    expect((err as HttpError).status).toBe(401);
  });
});
