import { describe, expect, it } from 'vitest';
import { parseUpArgs } from '../../../devcluster/up-args.ts';

describe('dev up flags', () => {
  it('default to one node, and take a count of nodes', () => {
    expect(parseUpArgs([])).toEqual({ nodes: 1 });
    expect(parseUpArgs(['--nodes', '2'])).toEqual({ nodes: 2 });
    expect(parseUpArgs(['--nodes', '8'])).toEqual({ nodes: 8 });
  });

  it('refuse counts outside 1–8 and anything unknown', () => {
    for (const args of [
      ['--nodes', '0'],
      ['--nodes', '9'],
      ['--nodes', '1.5'],
      ['--nodes'],
      ['--node', 'real'],
      ['--node', 'local'],
      ['--verbose'],
    ])
      expect(parseUpArgs(args), args.join(' ')).toBeUndefined();
  });
});
