import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuthenticationV1Api, RbacAuthorizationV1Api, type V1Role } from '@kubernetes/client-node';
import { Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { applyAccessManifests, CONTROL_PLANE_ACCOUNTS, ENGINE_SERVICE_ACCOUNT } from '../../devcluster/identities.ts';
import { startLocalStack, type LocalStack } from '../../devcluster/local-stack.ts';
import { waitFor } from '../../devcluster/processes.ts';
import { loadKubeConfig } from '../../lib/kube/client.ts';

/**
 * The local stack runs the engine and every function as the manifests' ServiceAccounts, never as admin: each one
 * authenticates as itself, the processes carry those identities, and taking a permission away from a Role breaks
 * the function that needs it (so the other integration tests, which run against this stack, would fail too).
 */

const env = inject('platform');
const admin = loadKubeConfig(env.kubeconfig);
const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
let stack: LocalStack;

beforeAll(async () => {
  stack = await startLocalStack(env, { engine: true });
});

afterAll(async () => {
  await applyAccessManifests(admin);
  await stack?.stop();
});

function processEnv(pid: number): Map<string, string> {
  const entries = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);
  return new Map(entries.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
}

describe('control-plane identities', () => {
  it('gives each ServiceAccount a kubeconfig that authenticates as that ServiceAccount', async () => {
    const kubeconfigs = stack.identities!.kubeconfigs;
    expect([...kubeconfigs.keys()].sort()).toEqual([...CONTROL_PLANE_ACCOUNTS].sort());
    for (const [account, path] of kubeconfigs) {
      const review = await loadKubeConfig(path)
        .makeApiClient(AuthenticationV1Api)
        .createSelfSubjectReview({ body: {} });
      expect(review.status?.userInfo?.username).toBe(`system:serviceaccount:${env.namespaces.system}:${account}`);
      expect(readFileSync(path, 'utf8')).not.toContain('client-key');
    }
  });

  it('runs the engine and the gateway with those identities and no admin credentials', () => {
    const engine = stack.processes.find((p) => p.name === 'engine')!;
    const gateway = stack.processes.find((p) => p.name === 'gateway')!;
    const engineEnv = processEnv(engine.child.pid!);
    expect(engineEnv.get('KUBECONFIG')).toBe(stack.identities!.kubeconfigs.get(ENGINE_SERVICE_ACCOUNT));
    const gatewayEnv = processEnv(gateway.child.pid!);
    expect(gatewayEnv.has('KUBECONFIG')).toBe(false);
    const dir = gatewayEnv.get('FUNCTION_KUBECONFIG_DIR')!;
    expect(join(dir, `${ENGINE_SERVICE_ACCOUNT}.kubeconfig`)).toBe(
      stack.identities!.kubeconfigs.get(ENGINE_SERVICE_ACCOUNT),
    );
    for (const e of [engineEnv, gatewayEnv]) {
      expect([...e.values()].some((v) => v === env.kubeconfig)).toBe(false);
    }
  });

  it('fails a function whose Role loses a permission it needs, and recovers when the manifests are re-applied', async () => {
    const address = Wallet.createRandom().address;
    const nonceUrl = `${stack.providerUrl}/api/services/nonce?userAddress=${address}`;
    expect((await fetch(nonceUrl)).status).toBe(200);

    const role: V1Role = await rbac.readNamespacedRole({ name: 'c2d-fn-nonce', namespace: env.namespaces.system });
    await rbac.replaceNamespacedRole({
      name: 'c2d-fn-nonce',
      namespace: env.namespaces.system,
      body: { ...role, rules: [] },
    });
    // The authorizer's RBAC cache follows the Role through a watch: give it a moment.
    await waitFor(
      'the nonce function to be refused by RBAC',
      async (signal) => (await fetch(nonceUrl, { signal })).status === 500,
      15_000,
      100,
    );
    const refused = await fetch(nonceUrl);
    expect(refused.status).toBe(500);
    expect(JSON.stringify(await refused.json())).not.toMatch(/forbidden|serviceaccount/i);

    await applyAccessManifests(admin);
    await waitFor(
      'the nonce function to recover',
      async (signal) => (await fetch(nonceUrl, { signal })).status === 200,
      15_000,
      100,
    );
  });

  it('renews the tokens the running processes read', async () => {
    const tokenFile = stack.identities!.kubeconfigs.get(ENGINE_SERVICE_ACCOUNT)!.replace(/\.kubeconfig$/, '.token');
    const before = readFileSync(tokenFile, 'utf8');
    await new Promise((r) => setTimeout(r, 1100)); // tokens minted within the same second are identical
    await stack.identities!.refresh();
    const after = readFileSync(tokenFile, 'utf8');
    expect(after).not.toBe(before);
    const review = await loadKubeConfig(stack.identities!.kubeconfigs.get(ENGINE_SERVICE_ACCOUNT))
      .makeApiClient(AuthenticationV1Api)
      .createSelfSubjectReview({ body: {} });
    expect(review.status?.userInfo?.username).toContain(ENGINE_SERVICE_ACCOUNT);
  });
});
