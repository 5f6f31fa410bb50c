import { AbiCoder, type Provider } from 'ethers';
import { describe, expect, it } from 'vitest';
import { accessListReader } from '../../../../lib/access/access-list-contract.ts';
import type { ChainContext } from '../../../../lib/access/chain-context.ts';
import { assertAccess } from '../../../../lib/access/environment-access.ts';
import { ChainUnavailable } from '../../../../lib/access/errors.ts';
import { HttpError } from '../../../../lib/http/errors.ts';

const LIST = '0x' + '1a'.repeat(20);
const WHO = '0x' + 'ab'.repeat(20);

/** A chain whose eth_call answers `answer` (or never answers), recording what was asked. */
function chainAnswering(answer: () => Promise<string>) {
  const calls: { to: string; data: string }[] = [];
  const provider = {
    call: (tx: { to: string; data: string }) => {
      calls.push(tx);
      return answer();
    },
  } as unknown as Provider;
  const chain: ChainContext = { provider, chainId: 8996, factoryAddress: '0x' + '0'.repeat(40), rpcTimeoutMs: 50 };
  return { reader: accessListReader(chain), calls };
}

const uint = (n: bigint) => AbiCoder.defaultAbiCoder().encode(['uint256'], [n]);

describe('accessListReader', () => {
  it("asks the list's balanceOf for the address: a token or more admits, none does not", async () => {
    const one = chainAnswering(async () => uint(1n));
    expect(await one.reader.holdsToken(LIST, WHO)).toBe(true);
    expect(one.calls[0]!.to).toBe(LIST);
    // balanceOf(address) selector, then the address.
    expect(one.calls[0]!.data).toBe('0x70a08231' + '0'.repeat(24) + WHO.slice(2));
    expect(await chainAnswering(async () => uint(0n)).reader.holdsToken(LIST, WHO)).toBe(false);
  });

  it('counts a list address without a contract as holding nothing', async () => {
    expect(await chainAnswering(async () => '0x').reader.holdsToken(LIST, WHO)).toBe(false);
  });

  it('bounds a call by the RPC timeout, and an unanswered list is a 503, not an admission', async () => {
    const hung = chainAnswering(() => new Promise<string>(() => {}));
    const started = Date.now();
    await expect(hung.reader.holdsToken(LIST, WHO)).rejects.toBeInstanceOf(ChainUnavailable);
    const err = await assertAccess(hung.reader, { addresses: [], accessLists: [{ '8996': [LIST] }] }, WHO, 'x').catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(HttpError);
    expect((err as HttpError).status).toBe(503);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
