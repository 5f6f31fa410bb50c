import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { deferred } from '../../../../lib/kube/lazy.ts';
import { kubeStatus } from '../../../../lib/kube/errors.ts';

describe('deferred', () => {
  interface Api {
    read(name: string): Promise<string>;
    fail(): Promise<never>;
  }

  it('loads nothing until a method is called, then calls through to what load() gives (lazyKube memoises it)', async () => {
    let loads = 0;
    const api = deferred<Api>(async () => {
      loads += 1;
      return { read: async (name) => `read ${name}`, fail: async () => Promise.reject(new Error('refused')) };
    });
    expect(loads).toBe(0);
    // Awaiting it (e.g. returned from an async function) must not load it: it is not thenable.
    expect(await Promise.resolve(api)).toBe(api);
    expect(loads).toBe(0);
    expect(await api.read('a')).toBe('read a');
    await expect(api.fail()).rejects.toThrow('refused');
    expect(loads).toBe(2);
  });

  it('passes on a failure to load', async () => {
    const api = deferred<Api>(async () => {
      throw new Error('no kubeconfig');
    });
    await expect(api.read('a')).rejects.toThrow('no kubeconfig');
  });
});

describe('kubeStatus', () => {
  it("recognises client-node's ApiException without loading the library for it", () => {
    expect(kubeStatus(new ApiException(409, 'Conflict', {}, {}))).toBe(409);
    expect(kubeStatus(new Error('plain'))).toBeUndefined();
    expect(kubeStatus(undefined)).toBeUndefined();
  });
});
