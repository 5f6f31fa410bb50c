import { describe, expect, it } from 'vitest';
import { parseUpArgs } from '../../../devcluster/up-args.ts';

describe('dev up flags', () => {
  it('default to one local node, and take a node kind and a count of real nodes in any order', () => {
    expect(parseUpArgs([])).toEqual({ node: 'local', nodes: 1 });
    expect(parseUpArgs(['--node', 'real'])).toEqual({ node: 'real', nodes: 1 });
    expect(parseUpArgs(['--node', 'real', '--nodes', '2'])).toEqual({ node: 'real', nodes: 2 });
    expect(parseUpArgs(['--nodes', '2', '--node', 'real'])).toEqual({ node: 'real', nodes: 2 });
  });

  it('refuse several bwrap nodes, counts outside 1–8 and anything unknown', () => {
    for (const args of [
      ['--nodes', '2'],
      ['--node', 'local', '--nodes', '2'],
      ['--node', 'real', '--nodes', '0'],
      ['--node', 'real', '--nodes', '9'],
      ['--node', 'real', '--nodes', '1.5'],
      ['--node', 'real', '--nodes'],
      ['--node', 'kind'],
      ['--verbose'],
    ])
      expect(parseUpArgs(args), args.join(' ')).toBeUndefined();
  });
});
