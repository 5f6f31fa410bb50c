import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpMethod, RequestContext, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { loadKubeConfig } from '../../../../lib/kube/client.ts';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const dir = mkdtempSync(join(tmpdir(), 'kube-client-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A kubeconfig with two client-certificate identities on one cluster; nothing is ever dialled. */
function kubeconfig(user: 'a' | 'b'): string {
  const file = join(dir, `kubeconfig-${user}`);
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': user,
      clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:6443', 'certificate-authority-data': b64('ca') } }],
      users: ['a', 'b'].map((name) => ({
        name,
        user: { 'client-certificate-data': b64(`cert-${name}`), 'client-key-data': b64(`key-${name}`) },
      })),
      contexts: ['a', 'b'].map((name) => ({ name, context: { cluster: 'c', user: name } })),
    }),
  );
  return file;
}

async function dispatcherOf(kc: KubeConfig): Promise<unknown> {
  const request = new RequestContext('https://127.0.0.1:6443/api/v1/namespaces/default/configmaps', HttpMethod.GET);
  await kc.applySecurityAuthentication(request);
  return request.getDispatcher();
}

describe('loadKubeConfig', () => {
  it('gives every request of one TLS identity the same dispatcher, so connections are pooled', async () => {
    const kc = loadKubeConfig(kubeconfig('a'));
    const first = await dispatcherOf(kc);
    expect(first).toBeDefined();
    expect(await dispatcherOf(kc)).toBe(first);
  });

  it('gives another TLS identity a dispatcher of its own', async () => {
    const kc = loadKubeConfig(kubeconfig('a'));
    const a = await dispatcherOf(kc);
    kc.setCurrentContext('b');
    const b = await dispatcherOf(kc);
    expect(b).toBeDefined();
    expect(b).not.toBe(a);
    kc.setCurrentContext('a');
    expect(await dispatcherOf(kc)).toBe(a);
  });

  it('bounds every request by the timeout it was given, and leaves requests unbounded without one', async () => {
    const request = (): RequestContext =>
      new RequestContext('https://127.0.0.1:6443/api/v1/namespaces/default/configmaps', HttpMethod.GET);
    const bounded = request();
    await loadKubeConfig(kubeconfig('a'), { requestTimeoutMs: 20 }).applySecurityAuthentication(bounded);
    const signal = bounded.getSignal();
    expect(signal?.aborted).toBe(false);
    await new Promise((r) => setTimeout(r, 60));
    expect(signal?.aborted).toBe(true);
    expect((signal?.reason as Error).name).toBe('TimeoutError');
    const unbounded = request();
    await loadKubeConfig(kubeconfig('a')).applySecurityAuthentication(unbounded);
    expect(unbounded.getSignal()).toBeUndefined();
  });
});
