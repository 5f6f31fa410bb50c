import { getAddress } from 'ethers';
import { describe, expect, it } from 'vitest';
import {
  assertAccess,
  decideAccess,
  planAccess,
  type AccessListReader,
  type ListAnswer,
} from '../../../../lib/access/environment-access.ts';
import { HttpError } from '../../../../lib/http/errors.ts';
import { parseEnvironments, type Access } from '../../../../lib/job/environments.ts';
import { environment } from '../../../support/job-fixtures.ts';

const ME = getAddress('0x' + 'ab'.repeat(20));
const LISTED = '0x' + 'cd'.repeat(20);
const L1 = getAddress('0x' + '11'.repeat(20));
const L2 = getAddress('0x' + '22'.repeat(20));
const L3 = getAddress('0x' + '33'.repeat(20));
/** ME with the case of one letter flipped: mixed case, so held to its checksum, which it fails. */
const MISCASED = ME.replace(/[a-f]/, (c) => c.toUpperCase());

describe('planAccess', () => {
  it.each<[string, Access | undefined, ReturnType<typeof planAccess>]>([
    ['no access at all: anyone', undefined, { kind: 'admitted', why: 'open' }],
    ['nothing listed: anyone', { addresses: [], accessLists: null }, { kind: 'admitted', why: 'open' }],
    ['an empty array of lists: anyone', { addresses: [], accessLists: [] }, { kind: 'admitted', why: 'open' }],
    [
      'listed by address (any case), without asking the chain',
      { addresses: [ME.toLowerCase()], accessLists: [{ '8996': [L1] }] },
      { kind: 'admitted', why: 'address' },
    ],
    // ocean-node admits anyone when accessLists is null, even with addresses listed; here the addresses hold.
    ['addresses only, not among them', { addresses: [LISTED], accessLists: null }, { kind: 'refused', lists: 0 }],
    [
      "this chain's lists, merged across maps without repeats",
      { addresses: [LISTED], accessLists: [{ '8996': [L1, L2], '1': [L3] }, { '8996': [L2] }] },
      { kind: 'ask', contracts: [L1, L2] },
    ],
    ['lists on another chain only', { addresses: [], accessLists: [{ '1': [L1] }] }, { kind: 'refused', lists: 0 }],
  ])('%s', (_what, access, plan) => {
    expect(planAccess(access, ME, 8996)).toEqual(plan);
  });
});

describe('decideAccess', () => {
  const yes = (contract: string): ListAnswer => ({ contract, holds: true });
  const no = (contract: string): ListAnswer => ({ contract, holds: false });
  const failed = (contract: string): ListAnswer => ({ contract, error: 'timed out' });
  it.each<[string, ListAnswer[], ReturnType<typeof decideAccess>]>([
    ['one holding admits', [no(L1), yes(L2)], { kind: 'admitted' }],
    ['a holding admits even when another list failed', [failed(L1), yes(L2)], { kind: 'admitted' }],
    ['every list answered no: refused', [no(L1), no(L2)], { kind: 'refused', lists: 2 }],
    [
      'a failure with no holding: unavailable, never a no',
      [no(L1), failed(L2)],
      {
        kind: 'unavailable',
        errors: [`${L2}: timed out`],
      },
    ],
  ])('%s', (_what, answers, decision) => {
    expect(decideAccess(answers)).toEqual(decision);
  });
});

describe('assertAccess', () => {
  const reader = (holds: (contract: string) => boolean): AccessListReader & { asked: string[] } => {
    const asked: string[] = [];
    return {
      chainId: 8996,
      asked,
      async holdsToken(contract, address) {
        asked.push(contract);
        expect(address).toBe(ME);
        return holds(contract);
      },
    };
  };
  const refusal = async (p: Promise<void>) => {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    return err instanceof HttpError ? { status: err.status, message: err.message } : err;
  };

  it('asks every list of this chain at once and admits a holder', async () => {
    const r = reader((c) => c === L2);
    await expect(assertAccess(r, { addresses: [], accessLists: [{ '8996': [L1, L2] }] }, ME, 'x')).resolves.toBe(
      undefined,
    );
    expect(r.asked).toEqual([L1, L2]);
  });

  it('refuses with 403 naming what it guards and why', async () => {
    expect(
      await refusal(
        assertAccess(
          reader(() => false),
          { addresses: [], accessLists: [{ '8996': [L1, L2] }] },
          ME,
          'environment e',
        ),
      ),
    ).toEqual({
      status: 403,
      message:
        `${ME} is not on the access list of environment e: not among its addresses, ` +
        'and it holds no token of its 2 access lists on chain 8996',
    });
  });

  it('turns a failed read into 503, naming the list', async () => {
    const down: AccessListReader = { chainId: 8996, holdsToken: () => Promise.reject(new Error('RPC down')) };
    expect(
      await refusal(assertAccess(down, { addresses: [], accessLists: [{ '8996': [L1] }] }, ME, 'environment e')),
    ).toEqual({
      status: 503,
      message: `could not read the access lists of environment e on chain 8996, try again: ${L1}: RPC down`,
    });
  });

  it('asks nothing for an open environment or a listed address', async () => {
    const r = reader(() => true);
    await assertAccess(r, undefined, ME, 'x');
    await assertAccess(r, { addresses: [ME.toLowerCase()], accessLists: [{ '8996': [L1] }] }, ME, 'x');
    expect(r.asked).toEqual([]);
  });
});

describe('the access configuration', () => {
  const withAccess = (access: unknown) => parseEnvironments([{ ...environment(), access }]);

  it('keeps contract addresses checksummed, whatever case they were given in', () => {
    const [env] = withAccess({
      addresses: [LISTED.toUpperCase().replace('0X', '0x')],
      accessLists: [{ '8996': [L1.toLowerCase()] }],
    });
    expect(env!.access).toEqual({ addresses: [LISTED], accessLists: [{ '8996': [L1] }] });
  });

  it.each([
    ['a bad EIP-55 checksum', [{ '8996': [MISCASED] }], /invalid EIP-55 checksum/],
    ['not an address', [{ '8996': ['0x1234'] }], /must be a 0x address/],
    ['a chain id that is not one', [{ '0x1': [L1] }], /must be a chain id/],
    ['a chain with no list', [{ '8996': [] }], /too small|>=1/],
    ['a map naming no chain', [{}], /at least one chain/],
    [
      'more than 16 lists on one chain',
      [
        { '8996': Array.from({ length: 9 }, (_, i) => getAddress('0x' + (i + 1).toString(16).padStart(40, '0'))) },
        { '8996': Array.from({ length: 8 }, (_, i) => getAddress('0x' + (i + 100).toString(16).padStart(40, '0'))) },
      ],
      /at most 16 access lists per chain/,
    ],
  ])('refuses %s', (_what, accessLists, message) => {
    expect(() => withAccess({ addresses: [], accessLists })).toThrow(message);
  });
});
