import { JsonRpcProvider, Wallet } from 'ethers';
import { signRequest } from '@oceanprotocol/lib-v8';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../../functions/auth/app.ts';
import { KubeNonceStore, V2_NONCES } from '../../../lib/auth/nonce-store.ts';
import { KubeTokenStore, MAX_LIVE_TOKENS } from '../../../lib/auth/token-store.ts';
import { FakeConfigMaps } from '../../support/fake-configmaps.ts';
import { silentLogger } from '../../support/silent-logger.ts';

// A signer with a provider that is never asked: ocean.js 8 signs locally and only asks the chain when that fails.
const consumer = new Wallet(Wallet.createRandom().privateKey, new JsonRpcProvider('http://127.0.0.1:9', 8996));
const other = new Wallet(Wallet.createRandom().privateKey);

function setup(now = new Date('2026-12-02T08:00:00Z')) {
  const store = new FakeConfigMaps();
  const nonces = new KubeNonceStore(store.asCore(), 'sys', V2_NONCES);
  const tokens = new KubeTokenStore(store.asCore(), 'sys');
  const app = createApp({ logger: silentLogger, nonces, tokens, now: () => now });
  const post = (path: string, body: unknown) =>
    app.request(`/v2/api/services/auth/token${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  return { store, nonces, tokens, post, now };
}

/** What ocean.js 8.6.2's generateAuthToken sends. */
async function createBody(signer: Wallet, nonce: number, address = consumer.address) {
  return { address, nonce: String(nonce), signature: await signRequest(signer, address + nonce + 'createAuthToken') };
}

describe('POST /v2/api/services/auth/token', () => {
  it('issues a token for a request ocean.js 8 signed, spends the nonce, and keeps only its digest', async () => {
    const { store, nonces, tokens, post, now } = setup();
    const res = await post('', await createBody(consumer, 1));
    expect(res.status).toBe(200);
    const { token } = (await res.json()) as { token: string };
    expect(await nonces.current(consumer.address)).toBe(1n);
    expect(await tokens.owner(token, now)).toBe(consumer.address.toLowerCase());
    const stored = JSON.stringify([...store.objects.values()]);
    expect(stored).not.toContain(token);
    expect(stored).not.toContain(token.split('.')[1]!);
  });

  it('refuses a replayed request, another signer, and the signature of another command', async () => {
    const { post } = setup();
    const body = await createBody(consumer, 1);
    expect((await post('', body)).status).toBe(200);
    expect((await post('', body)).status).toBe(401);
    expect((await post('', await createBody(other, 2))).status).toBe(401);
    const forStart = {
      address: consumer.address,
      nonce: '2',
      signature: await signRequest(consumer, consumer.address + '2startCompute'),
    };
    expect((await post('', forStart)).status).toBe(401);
  });

  it(`holds an address to ${MAX_LIVE_TOKENS} live tokens`, async () => {
    const { post } = setup();
    for (let n = 1; n <= MAX_LIVE_TOKENS; n++) expect((await post('', await createBody(consumer, n))).status).toBe(200);
    const res = await post('', await createBody(consumer, MAX_LIVE_TOKENS + 1));
    expect(res.status).toBe(409);
  });
});

describe('POST /v2/api/services/auth/token/invalidate', () => {
  it("revokes a token with what ocean.js 8.6.2 signs (address + nonce), only for the token's owner", async () => {
    const { post, tokens, now } = setup();
    const { token } = (await (await post('', await createBody(consumer, 1))).json()) as { token: string };
    const byOther = { address: other.address, nonce: '1', token };
    byOther.nonce = '1';
    const otherSig = await signRequest(other, other.address + '1');
    expect((await post('/invalidate', { ...byOther, signature: otherSig })).status).toBe(403);
    expect(await tokens.owner(token, now)).toBeDefined();
    const signature = await signRequest(consumer, consumer.address + '2');
    const res = await post('/invalidate', { address: consumer.address, nonce: '2', token, signature });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ success: true });
    expect(await tokens.owner(token, now)).toBeUndefined();
  });
});

describe('the token record of an address', () => {
  it('keeps only live tokens: expired ones are dropped on the next write, invalidated ones at once', async () => {
    const { store, post, tokens } = setup();
    const { token: first } = (await (await post('', await createBody(consumer, 1))).json()) as { token: string };
    const { token: second } = (await (await post('', await createBody(consumer, 2))).json()) as { token: string };
    const record = () => [...store.objects.values()].find((cm) => cm.metadata?.name?.startsWith('authtoken-'))!;
    expect(Object.keys(record().data!).filter((k) => k.startsWith('t-'))).toHaveLength(2);
    const signature = await signRequest(consumer, consumer.address + '3');
    await post('/invalidate', { address: consumer.address, nonce: '3', token: first, signature });
    expect(Object.keys(record().data!).filter((k) => k.startsWith('t-'))).toHaveLength(1);
    // A day and a half later the second token has expired: creating a third drops it.
    const later = new Date(Date.parse('2026-12-02T08:00:00Z') + 36 * 3600_000);
    const { token: third } = (await (await setupAt(store, later).post('', await createBody(consumer, 4))).json()) as {
      token: string;
    };
    expect(Object.keys(record().data!).filter((k) => k.startsWith('t-'))).toHaveLength(1);
    expect(await tokens.owner(second, later)).toBeUndefined();
    expect(await tokens.owner(third, later)).toBe(consumer.address.toLowerCase());
  });
});

/** The auth app over an existing store, at another time. */
function setupAt(store: FakeConfigMaps, now: Date) {
  const app = createApp({
    logger: silentLogger,
    nonces: new KubeNonceStore(store.asCore(), 'sys', V2_NONCES),
    tokens: new KubeTokenStore(store.asCore(), 'sys'),
    now: () => now,
  });
  return {
    post: (path: string, body: unknown) =>
      app.request(`/v2/api/services/auth/token${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }),
  };
}
