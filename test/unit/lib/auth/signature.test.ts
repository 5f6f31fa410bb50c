import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { isSignedBy, providerRequestDigest, recoverRequestSigner } from '../../../../lib/auth/signature.ts';

// ocean.js 3.x is CommonJS and brings its own ethers 5: sign exactly as a client built on it does.
const require = createRequire(import.meta.url);
const ocean = require('@oceanprotocol/lib') as {
  ProviderInstance: { signProviderRequest(signer: unknown, message: string): Promise<string> };
};
const ethers5 = createRequire(require.resolve('@oceanprotocol/lib'))(
  'ethers',
) as typeof import('../../../../node_modules/@oceanprotocol/lib/node_modules/ethers/lib/index.js');

/** ethers-5 Wallet without a network: `signProviderRequest` only asks the signer for its chain id. */
class OfflineWallet extends ethers5.Wallet {
  override async getChainId(): Promise<number> {
    return 8996;
  }
}

const CONSUMER_KEY = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d';
const OTHER_KEY = '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a';

async function oceanSign(key: string, message: string): Promise<{ address: string; signature: string }> {
  const wallet = new OfflineWallet(key);
  return { address: wallet.address, signature: await ocean.ProviderInstance.signProviderRequest(wallet, message) };
}

describe('provider request signatures (ocean.js signProviderRequest)', () => {
  const did = 'did:op:' + 'ab'.repeat(32);

  it('recovers the signer of a start message: consumerAddress + documentId + nonce', async () => {
    const wallet = new OfflineWallet(CONSUMER_KEY);
    const message = wallet.address + did + '1';
    const { address, signature } = await oceanSign(CONSUMER_KEY, message);
    expect(recoverRequestSigner(message, signature)).toBe(address);
    expect(isSignedBy(address, message, signature)).toBe(true);
    expect(isSignedBy(address.toLowerCase(), message, signature)).toBe(true);
  });

  it('signs the keccak256 of the UTF-8 text, as ethers 5 solidityKeccak256(bytes) computes it', () => {
    const message = 'ünïcode ' + did + '42';
    const expected = ethers5.utils.arrayify(
      ethers5.utils.solidityKeccak256(['bytes'], [ethers5.utils.hexlify(ethers5.utils.toUtf8Bytes(message))]),
    );
    expect(Array.from(providerRequestDigest(message))).toEqual(Array.from(expected));
  });

  it('refuses a changed message, a changed nonce and another signer', async () => {
    const wallet = new OfflineWallet(CONSUMER_KEY);
    const message = wallet.address + did + '7';
    const { address, signature } = await oceanSign(CONSUMER_KEY, message);
    expect(isSignedBy(address, wallet.address + did + '8', signature)).toBe(false);
    expect(isSignedBy(address, message.toLowerCase(), signature)).toBe(false);
    const other = await oceanSign(OTHER_KEY, message);
    expect(isSignedBy(address, message, other.signature)).toBe(false);
    expect(recoverRequestSigner(message, other.signature)).toBe(other.address);
  });

  it('accepts the legacy v of 0/1 (eth_sign on ganache-like nodes) as 27/28', async () => {
    const message = 'legacy' + did + '3';
    const { address, signature } = await oceanSign(CONSUMER_KEY, message);
    const v = parseInt(signature.slice(130), 16);
    const legacy = signature.slice(0, 130) + (v - 27).toString(16).padStart(2, '0');
    expect(isSignedBy(address, message, legacy)).toBe(true);
  });

  it('returns undefined for a signature that does not parse', () => {
    expect(recoverRequestSigner('m', '0x' + '00'.repeat(65))).toBeUndefined();
    expect(recoverRequestSigner('m', '0x1234')).toBeUndefined();
    expect(isSignedBy('0x' + '11'.repeat(20), 'm', 'not hex')).toBe(false);
  });
});

describe('v2 request signatures (ocean.js 8.x signRequest)', () => {
  it('verifies a hash with a leading zero byte, which ocean.js 8 signs as 31 bytes', async () => {
    const { Wallet, keccak256, toUtf8Bytes } = await import('ethers');
    const { signRequest } = await import('@oceanprotocol/lib-v8');
    const { isCommandSignedBy } = await import('../../../../lib/auth/signature.ts');
    const wallet = new Wallet(CONSUMER_KEY);
    let n = 1;
    while (!keccak256(toUtf8Bytes(`${wallet.address}${n}startCompute`)).startsWith('0x00')) n++;
    const text = `${wallet.address}${n}startCompute`;
    const signature = await signRequest(wallet, text);
    expect(isCommandSignedBy(wallet.address, text, signature)).toBe(true);
    // v1's verification (the full 32 bytes) does not recognise it: the reason v2 verifies both forms.
    expect(isSignedBy(wallet.address, text, signature)).toBe(false);
    expect(isCommandSignedBy(new Wallet(OTHER_KEY).address, text, signature)).toBe(false);
    expect(isCommandSignedBy(wallet.address, `${wallet.address}${n + 1}startCompute`, signature)).toBe(false);
  });
});
