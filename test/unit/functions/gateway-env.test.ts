import { describe, expect, it } from 'vitest';
import { functionEnv } from '../../../functions/gateway.ts';

describe('functionEnv', () => {
  const env = {
    PATH: '/usr/bin',
    FUNCTION_KUBECONFIG_DIR: '/run/ids',
    PROVIDER_KEY: '0xkey',
    PROVIDER_KEY_FILE: '/k',
    RPC_URL: 'http://rpc',
  };

  it('gives a signing function its own kubeconfig and the key', () => {
    const e = functionEnv('start', env);
    expect(e.KUBECONFIG).toBe('/run/ids/c2d-fn-start.kubeconfig');
    expect(e.PROVIDER_KEY).toBe('0xkey');
    expect(e.PROVIDER_KEY_FILE).toBe('/k');
    expect(e.FUNCTION_KUBECONFIG_DIR).toBeUndefined();
    expect(e.RPC_URL).toBe('http://rpc');
  });

  it('keeps the key from every function that does not sign', () => {
    for (const fn of [
      'info',
      'nonce',
      'status',
      'stop',
      'delete',
      'result',
      'logs',
      'environments',
      'encrypt',
    ] as const) {
      const e = functionEnv(fn, env);
      expect(e.PROVIDER_KEY, fn).toBeUndefined();
      expect(e.PROVIDER_KEY_FILE, fn).toBeUndefined();
      expect(e.KUBECONFIG, fn).toBe(`/run/ids/c2d-fn-${fn}.kubeconfig`);
    }
  });

  it('leaves KUBECONFIG alone when no per-function identities are given', () => {
    expect(functionEnv('status', { KUBECONFIG: '/admin' }).KUBECONFIG).toBe('/admin');
  });
});
