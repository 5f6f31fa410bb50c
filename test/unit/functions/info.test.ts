import { Wallet } from 'ethers';
import { describe, expect, it } from 'vitest';
import { appFromRuntime } from '../../../functions/info/app.ts';
import { Runtime } from '../../../lib/api/runtime.ts';

const provider = new Wallet('0x' + '21'.repeat(32));
const output = new Wallet('0x' + '43'.repeat(32));
const settings = {
  CHAIN_ID: '8996',
  PROVIDER_ADDRESS: provider.address,
  PROVIDER_PUBLIC_KEY: provider.signingKey.publicKey,
};

async function nodePublicKey(vars: Record<string, string>): Promise<string> {
  const res = await appFromRuntime(new Runtime(vars)).request('/v2');
  expect(res.status).toBe(200);
  return ((await res.json()) as { nodePublicKey: string }).nodePublicKey;
}

describe("info's nodePublicKey", () => {
  it('is the output key, compressed as ocean-node serves its key, whichever form OUTPUT_PUBLIC_KEY is given in', async () => {
    const compressed = output.signingKey.compressedPublicKey;
    expect(await nodePublicKey({ ...settings, OUTPUT_PUBLIC_KEY: output.signingKey.publicKey })).toBe(compressed);
    expect(await nodePublicKey({ ...settings, OUTPUT_PUBLIC_KEY: compressed })).toBe(compressed);
  });

  it("is the provider's public key when there is no output key", async () => {
    expect(await nodePublicKey(settings)).toBe(provider.signingKey.publicKey);
  });

  it('refuses an OUTPUT_PUBLIC_KEY that is no public key, at start-up', () => {
    expect(() => new Runtime({ ...settings, OUTPUT_PUBLIC_KEY: provider.privateKey })).toThrow(/OUTPUT_PUBLIC_KEY/);
  });
});
