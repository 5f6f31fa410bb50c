import { randomBytes, randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { did, jobId, nonce, resultIndex, stage } from '../../../../lib/api/fields.ts';
import { NONCE_CEILING, NONCE_FLOOR } from '../../../../lib/auth/nonce-policy.ts';
import {
  deleteText,
  logsText,
  resultText,
  startText,
  statusText,
  stopText,
} from '../../../../lib/auth/signed-texts.ts';
import {
  ATTACK_LAYOUTS,
  ATTACK_RULES,
  SIGNED_ENDPOINTS,
  readingsOf,
  type FieldRules,
  type Reading,
  type SignedEndpoint,
} from '../../../support/signed-text-splits.ts';

const ADDRESS = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';

/** The provider's own field schemas: what a request must satisfy to be read at all. */
const RULES: FieldRules = {
  documentId: (v) => did.safeParse(v).success,
  jobId: (v) => jobId.safeParse(v).success,
  nonce: (v) => nonce.safeParse(v).success,
  index: (v) => resultIndex.safeParse(v).success,
  stage: (v) => stage.safeParse(v).success,
};

// Digit-heavy values are the hard case: a job id or DID made only of 0-9 looks like a nonce or an index.
const hexOf = (chars: number, digitsOnly: boolean): string =>
  digitsOnly
    ? Array.from({ length: chars }, () => String(randomInt(10))).join('')
    : randomBytes(chars / 2).toString('hex');
const randomNonce = (): bigint => NONCE_FLOOR + 1n + BigInt(randomInt(9 * 10 ** 12)) * 9n;

function textOf(endpoint: SignedEndpoint, r: Reading): string {
  const n = BigInt(r.nonce ?? '0');
  switch (endpoint) {
    case 'start':
      return startText({ address: ADDRESS, documentId: r.documentId!, nonce: n });
    case 'stop':
      return stopText({ address: ADDRESS, jobId: r.jobId! });
    case 'delete':
      return deleteText({ address: ADDRESS, jobId: r.jobId!, documentId: r.documentId, nonce: n });
    case 'result':
      return resultText({ address: ADDRESS, jobId: r.jobId!, index: Number(r.index), nonce: n });
    case 'logs':
      return logsText({ address: ADDRESS, jobId: r.jobId!, stage: r.stage!, nonce: n });
    case 'status':
      return statusText({ address: ADDRESS, jobId: r.jobId, nonce: n });
  }
}

/** A valid request of `endpoint`, by the fields its text covers. */
function randomRequest(endpoint: SignedEndpoint, digitsOnly: boolean): Reading {
  const job = hexOf(32, digitsOnly);
  const documentId = `did:op:${hexOf(64, digitsOnly)}`;
  const n = String(randomNonce());
  switch (endpoint) {
    case 'start':
      return { documentId, nonce: n };
    case 'stop':
      return { jobId: job };
    case 'delete':
      return randomInt(2) ? { jobId: job, documentId, nonce: n } : { jobId: job, nonce: n };
    case 'result':
      return { jobId: job, index: String(randomInt(10 ** randomInt(1, 7))), nonce: n };
    case 'logs':
      return { jobId: job, stage: ['configure', 'algorithm', 'publish'][randomInt(3)]!, nonce: n };
    case 'status':
      return randomInt(2) ? { jobId: job, nonce: n } : { nonce: n };
  }
}

describe('signed texts', () => {
  it.each(SIGNED_ENDPOINTS.flatMap((a) => [false, true].map((digitsOnly) => [a, digitsOnly] as const)))(
    'a %s text (digits-only ids: %s) reads as that one request and as nothing of another endpoint',
    (source, digitsOnly) => {
      for (let i = 0; i < 150; i++) {
        const request = randomRequest(source, digitsOnly);
        const tail = textOf(source, request).slice(ADDRESS.length);
        for (const target of SIGNED_ENDPOINTS) {
          const readings = readingsOf(tail, target, RULES);
          expect(readings, `${source} ${JSON.stringify(request)} read as ${target}`).toEqual(
            target === source ? [request] : [],
          );
        }
      }
    },
  );

  it('the attack that deleted a job: a result text read as a delete whose nonce is "1" + the nonce', () => {
    const job = 'ab'.repeat(16);
    const n = NONCE_FLOOR + 5n;
    const tail = resultText({ address: ADDRESS, jobId: job, index: 1, nonce: n }).slice(ADDRESS.length);
    // Under the field grammar the provider had before, the result text was also a delete, a stop and a status.
    expect(readingsOf(tail, 'delete', ATTACK_RULES, ATTACK_LAYOUTS)).toContainEqual({ jobId: job, nonce: `1${n}` });
    expect(readingsOf(tail, 'stop', ATTACK_RULES, ATTACK_LAYOUTS)).toContainEqual({ jobId: job, nonce: `1${n}` });
    expect(readingsOf(tail, 'status', ATTACK_RULES, ATTACK_LAYOUTS)).toContainEqual({ jobId: job, nonce: `1${n}` });
    // Today it is nothing but the result request it was.
    for (const target of SIGNED_ENDPOINTS) {
      expect(readingsOf(tail, target, RULES)).toEqual(
        target === 'result' ? [{ jobId: job, index: '1', nonce: String(n) }] : [],
      );
    }
  });

  it('the nonce grammar bounds every text: the largest nonce still has 14 digits', () => {
    expect(nonce.safeParse(String(NONCE_CEILING)).success).toBe(true);
    expect(nonce.safeParse(String(NONCE_CEILING + 1n)).success).toBe(false);
    expect(nonce.safeParse(String(NONCE_FLOOR - 1n)).success).toBe(false);
  });
});
