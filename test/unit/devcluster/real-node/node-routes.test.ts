import { describe, expect, it } from 'vitest';
import { podCidr } from '../../../../devcluster/real-node/containerd.ts';
import { linkAddresses } from '../../../../devcluster/real-node/node-routes.ts';

describe('node routes', () => {
  it('give each node its own pod range and each pair of nodes its own /30', () => {
    expect([0, 1, 7].map(podCidr)).toEqual(['10.244.0.0/24', '10.244.1.0/24', '10.244.7.0/24']);
    expect(linkAddresses(0, 1)).toEqual(['10.201.0.5', '10.201.0.6']);
    expect(linkAddresses(1, 2)).toEqual(['10.201.1.9', '10.201.1.10']);
    const all = [0, 1, 2, 3].flatMap((i) => [1, 2, 3, 4].filter((j) => j > i).flatMap((j) => linkAddresses(i, j)));
    expect(new Set(all).size).toBe(all.length);
  });

  it('refuse what has no range', () => {
    expect(() => podCidr(256)).toThrow();
    expect(() => podCidr(-1)).toThrow();
    expect(() => linkAddresses(1, 1)).toThrow();
    expect(() => linkAddresses(2, 1)).toThrow();
    expect(() => linkAddresses(0, 64)).toThrow();
  });
});
