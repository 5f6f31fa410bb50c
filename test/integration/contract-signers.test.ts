import { JsonRpcProvider, NonceManager, Wallet, getBytes, hashMessage, keccak256, toUtf8Bytes } from 'ethers';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../devcluster/local-stack.ts';
import { commandText, V2_COMMANDS, type V2Command } from '../../lib/auth/command-texts.ts';
import { newJobId } from '../../lib/job/names.ts';
import { deployOwnerWallet } from '../support/erc1271-wallet.ts';

/**
 * ERC-1271 contract accounts on the v2 API, on the local platform: a contract wallet deployed on the dev chain,
 * whose owner's key signs for it, gets an auth token and has a signed stop authenticated; a signature its contract
 * does not accept is refused 401, and an ordinary account signs as before.
 */

const env = inject('platform');
let stack: LocalStack;
let rpc: JsonRpcProvider;
let walletAddress: string;
const owner = Wallet.createRandom();

/** The owner's raw ECDSA signature of `hash`: what the test wallet accepts as its own. */
const ownerSigns = (hash: string, key = owner): string => key.signingKey.sign(hash).serialized;

const text = (address: string, nonce: number, command: V2Command): string =>
  commandText(address, BigInt(nonce), command);

async function createToken(address: string, nonce: number, signature: string): Promise<Response> {
  return fetch(`${stack.providerUrl}/v2/api/services/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ address, nonce, signature }),
  });
}

beforeAll(async () => {
  rpc = new JsonRpcProvider(env.rpcUrl, undefined, { staticNetwork: true, pollingInterval: 100, cacheTimeout: -1 });
  walletAddress = await deployOwnerWallet(new NonceManager(new Wallet(env.keys.deployer, rpc)), owner.address);
  stack = await startLocalStack(env, { engine: false });
});

afterAll(async () => {
  await stack?.stop();
  rpc?.destroy();
});

describe('ERC-1271 contract accounts on the v2 API', () => {
  it('get an auth token signed for them the way ocean-node checks it (EIP-191 hash of the text)', async () => {
    const signature = ownerSigns(hashMessage(text(walletAddress, 1, V2_COMMANDS.createToken)));
    const res = await createToken(walletAddress, 1, signature);
    expect(res.status, await res.clone().text()).toBe(200);
    const { token } = (await res.json()) as { token: string };
    const status = await fetch(`${stack.providerUrl}/v2/api/services/compute?consumerAddress=${walletAddress}`, {
      headers: { Authorization: token },
    });
    expect(status.status).toBe(200);
    expect(await status.json()).toEqual([]);
  });

  it('have a signed stop authenticated over the hash ocean.js 8 asks a signer to sign', async () => {
    const digest = keccak256(toUtf8Bytes(text(walletAddress, 2, V2_COMMANDS.stop)));
    const signature = ownerSigns(hashMessage(getBytes(digest)));
    const query = new URLSearchParams({ consumerAddress: walletAddress, nonce: '2', signature, jobId: newJobId() });
    const res = await fetch(`${stack.providerUrl}/v2/api/services/compute?${query}`, { method: 'PUT' });
    // Authenticated: the job is unknown, not the caller.
    expect(res.status, await res.text()).toBe(404);
  });

  it('are refused a signature their contract does not accept, and a replayed nonce', async () => {
    const stranger = Wallet.createRandom();
    const forged = ownerSigns(hashMessage(text(walletAddress, 3, V2_COMMANDS.createToken)), stranger);
    expect((await createToken(walletAddress, 3, forged)).status).toBe(401);
    const replay = ownerSigns(hashMessage(text(walletAddress, 1, V2_COMMANDS.createToken)));
    expect((await createToken(walletAddress, 1, replay)).status).toBe(401);
  });

  it('leave ordinary accounts signing as before', async () => {
    const consumer = Wallet.createRandom();
    const address = consumer.address.toLowerCase();
    const signature = await consumer.signMessage(
      getBytes(keccak256(toUtf8Bytes(text(address, 1, V2_COMMANDS.createToken)))),
    );
    expect((await createToken(address, 1, signature)).status).toBe(200);
    // An ordinary account's wrong signature is refused without a contract to ask.
    const wrong = await Wallet.createRandom().signMessage(
      getBytes(keccak256(toUtf8Bytes(text(address, 2, V2_COMMANDS.createToken)))),
    );
    expect((await createToken(address, 2, wrong)).status).toBe(401);
  });
});
