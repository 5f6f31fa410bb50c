import { randomBytes, randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { did, jobId, nonce, resultIndex, stage } from '../../../../lib/api/fields.ts';
import { v2Nonce } from '../../../../lib/api/requests-v2.ts';
import { commandText, readCommandTail, V2_COMMANDS, type V2Command } from '../../../../lib/auth/command-texts.ts';
import { NONCE_FLOOR } from '../../../../lib/auth/nonce-policy.ts';
import {
  deleteText,
  logsText,
  resultText,
  startText,
  statusText,
  stopText,
} from '../../../../lib/auth/signed-texts.ts';
import { V2_NONCE_CEILING } from '../../../../lib/auth/v2-nonce-policy.ts';
import { SIGNED_ENDPOINTS, readingsOf, type FieldRules } from '../../../support/signed-text-splits.ts';

const ADDRESS = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';

/** v1's field schemas: what v1 reads a tail with (signed-texts.test.ts). */
const V1_RULES: FieldRules = {
  documentId: (v) => did.safeParse(v).success,
  jobId: (v) => jobId.safeParse(v).success,
  nonce: (v) => nonce.safeParse(v).success,
  index: (v) => resultIndex.safeParse(v).success,
  stage: (v) => stage.safeParse(v).success,
};

const COMMANDS: (V2Command | undefined)[] = [...Object.values(V2_COMMANDS), undefined];
const digits = (n: number): string =>
  String(randomInt(1, 10)) + Array.from({ length: n - 1 }, () => randomInt(10)).join('');
/** v2 nonces of every width, the widest ones at the top of the range. */
function randomV2Nonce(): bigint {
  const width = randomInt(1, 17);
  const n = BigInt(digits(width));
  return n > V2_NONCE_CEILING ? V2_NONCE_CEILING - BigInt(randomInt(1000)) : n;
}
const digitJob = (): string => digits(32);

describe('v2 signed texts', () => {
  it.each(COMMANDS.map((c) => [c ?? '(none)', c] as const))(
    'a text for %s reads back as its nonce and command, and as no v1 request',
    (_name, command) => {
      for (let i = 0; i < 300; i++) {
        const n = randomV2Nonce();
        const tail = commandText(ADDRESS, n, command).slice(ADDRESS.length);
        expect(readCommandTail(tail)).toEqual({ nonce: n, command });
        for (const endpoint of SIGNED_ENDPOINTS) expect(readingsOf(tail, endpoint, V1_RULES)).toEqual([]);
      }
    },
  );

  it('no v1 text reads as a v2 text, digit-only job ids included', () => {
    for (let i = 0; i < 300; i++) {
      const n = NONCE_FLOOR + BigInt(randomInt(10 ** 9));
      const job = i % 2 ? digitJob() : randomBytes(16).toString('hex');
      const documentId = `did:op:${randomBytes(32).toString('hex')}`;
      const texts = [
        startText({ address: ADDRESS, documentId, nonce: n }),
        stopText({ address: ADDRESS, jobId: job }),
        deleteText({ address: ADDRESS, jobId: job, documentId: undefined, nonce: n }),
        resultText({ address: ADDRESS, jobId: job, index: randomInt(1000), nonce: n }),
        logsText({ address: ADDRESS, jobId: job, stage: 'algorithm', nonce: n }),
        statusText({ address: ADDRESS, jobId: i % 3 ? job : undefined, nonce: n }),
      ];
      for (const text of texts) expect(readCommandTail(text.slice(ADDRESS.length)), text).toBeUndefined();
    }
  });

  it('another command, a command with a suffix or a nonce with a leading zero is no v2 text', () => {
    expect(readCommandTail('5getComputeStatus')).toBeUndefined();
    expect(readCommandTail('5startComputeX')).toBeUndefined();
    expect(readCommandTail('05startCompute')).toBeUndefined();
    expect(readCommandTail('1'.repeat(17))).toBeUndefined();
  });
});

describe('v2 nonce field', () => {
  it.each([
    ['1', true],
    [String(Number.MAX_SAFE_INTEGER), true],
    [String(Number.MAX_SAFE_INTEGER + 1), false],
    ['0', false],
    ['01', false],
    ['1.5', false],
    ['-1', false],
  ])('%s: %s', (value, ok) => {
    expect(v2Nonce.safeParse(value).success).toBe(ok);
  });

  it('takes a number as ocean-node does', () => {
    expect(v2Nonce.parse(42)).toBe(42n);
  });
});
