import { describe, expect, it } from 'vitest';
import {
  NONCE_ANNOTATION,
  RECORDED_NONCE_TRUST_MS,
  alreadyUsed,
  chooseNonce,
  readRecordedNonce,
} from '../../../../lib/payment/provider-tx.ts';

const SENDER = '0x' + 'ab'.repeat(20);
const TX = '0x' + '01'.repeat(32);
const recorded = (nonce: number, sender = SENDER) => ({ sender, nonce, tx: TX });

describe('chooseNonce', () => {
  it.each([
    ['no record: the pending count', 7, undefined, 0, 7],
    ['the chain is past the record', 7, recorded(5), 0, 7],
    ['the chain counts the recorded transaction', 7, recorded(6), 0, 7],
    ['the chain has not counted the last recorded transaction yet', 7, recorded(7), 0, 8],
    ['further behind', 3, recorded(7), 1_000, 8],
    ['trusted up to its bound', 7, recorded(7), RECORDED_NONCE_TRUST_MS, 8],
    [
      'a record the chain never counted is dropped after its bound: the gap is filled',
      7,
      recorded(9),
      RECORDED_NONCE_TRUST_MS + 1,
      7,
    ],
    ['another key recorded it', 7, recorded(9, '0x' + 'cd'.repeat(20)), 0, 7],
  ])('%s', (_what, pending, record, seenForMs, expected) => {
    expect(chooseNonce(pending, record, SENDER.toUpperCase().replace('0X', '0x'), seenForMs)).toBe(expected);
  });
});

describe('readRecordedNonce', () => {
  it('reads what a holder wrote', () => {
    expect(readRecordedNonce({ [NONCE_ANNOTATION]: JSON.stringify(recorded(4)) })).toEqual(recorded(4));
  });

  it.each([
    ['absent', {}],
    ['not JSON', { [NONCE_ANNOTATION]: '{' }],
    ['a negative nonce', { [NONCE_ANNOTATION]: JSON.stringify(recorded(-1)) }],
    ['no transaction', { [NONCE_ANNOTATION]: JSON.stringify({ sender: SENDER, nonce: 1 }) }],
  ])('ignores a record that is %s (the chain decides)', (_what, annotations) => {
    expect(readRecordedNonce(annotations)).toBeUndefined();
  });
});

describe('alreadyUsed', () => {
  it.each([
    ['already known', true],
    ['nonce too low: next nonce 5, tx nonce 4', true],
    ['replacement transaction underpriced', false],
    ['insufficient funds for gas', false],
  ])('%s → %s', (message, expected) => {
    expect(alreadyUsed(new Error(message))).toBe(expected);
  });
});
