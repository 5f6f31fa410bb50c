import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CoreV1Api, CustomObjectsApi, KubeConfig, type V1ConfigMap, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildPvc, buildStagePod, DEFAULT_POD_SPEC_SETTINGS } from '../../engine/pod-specs.ts';
import { ENDPOINTS, FUNCTION_NAMES, V2_ENDPOINTS } from '../../lib/api/endpoints.ts';
import { ENVIRONMENTS_CONFIGMAP } from '../../lib/job/environments.ts';
import { STAGES } from '../../lib/job/names.ts';
import { parseWorkflow } from '../../lib/job/workflow.ts';
import { loadKubeConfig } from '../../lib/kube/client.ts';
import { workflow } from '../support/job-fixtures.ts';

/**
 * The deployment artefacts against the dev cluster's real API server: the kustomize manifests, the Knative Services
 * and HTTPRoute (real CRD schemas), knative/deploy.sh with the real kn, the RBAC of every ServiceAccount through
 * `kubectl auth can-i`, and the engine's pods under PodSecurity `restricted`.
 *
 * The manifests go into the platform's own c2d-system/c2d-jobs. What would change how later test files run there
 * (the engine Deployment, quota and limits, Knative objects, the environments ConfigMap) is removed or restored
 * afterwards; the RBAC objects stay.
 */

const run = promisify(execFile);
const env = inject('platform');
const root = join(import.meta.dirname, '../..');
const SYSTEM = 'c2d-system';
const JOBS = 'c2d-jobs';
const REGISTRY = 'registry.example.org:5000/c2d-it';
/** Where deploy.sh's routes send requests by default: Traefik's private entrypoint (knative/httproute.yaml). */
const LOCAL_GATEWAY_NAMESPACE = 'traefik';

const kc = loadKubeConfig(env.kubeconfig);
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);

async function kubectl(args: string[], input?: string): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    const child = execFile(
      'kubectl',
      ['--kubeconfig', env.kubeconfig, ...args],
      { maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === 'number'
            ? (err as { code: number }).code
            : 1
          : 0;
        resolve({ stdout, stderr, code });
      },
    );
    if (input !== undefined) child.stdin!.end(input);
  });
}

async function ok(args: string[], input?: string): Promise<string> {
  const r = await kubectl(args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** Runs `fn` over `items`, `limit` at a time (kubectl processes are the cost; the machine has two cores). */
async function pool<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

let savedEnvironments: V1ConfigMap | undefined;

beforeAll(async () => {
  try {
    savedEnvironments = await core.readNamespacedConfigMap({ name: ENVIRONMENTS_CONFIGMAP, namespace: SYSTEM });
  } catch (err) {
    if ((err as { code?: number }).code !== 404) throw err;
  }
});

afterAll(async () => {
  const gone = (args: string[]) => kubectl(['delete', '--ignore-not-found', '--wait=false', ...args]);
  await gone(['-n', SYSTEM, 'deployment/c2d-engine', 'poddisruptionbudget/c2d-engine', 'service/c2d-engine-metrics']);
  await gone(['-n', JOBS, 'resourcequota/c2d-jobs', 'limitrange/c2d-jobs']);
  await gone(['-n', SYSTEM, 'services.serving.knative.dev', ...FUNCTION_NAMES.map((f) => `c2d-${f}`)]);
  await gone([
    '-n',
    SYSTEM,
    'httproute.gateway.networking.k8s.io/c2d-provider',
    'httproute.gateway.networking.k8s.io/c2d-provider-v2',
    'configmap/c2d-provider',
    'secret/c2d-provider-key',
    'secret/c2d-results-store',
  ]);
  await gone(['namespace', LOCAL_GATEWAY_NAMESPACE]);
  if (savedEnvironments) {
    const { name, namespace, labels, annotations } = savedEnvironments.metadata!;
    const current = await core.readNamespacedConfigMap({ name: name!, namespace: namespace! });
    await core.replaceNamespacedConfigMap({
      name: name!,
      namespace: namespace!,
      body: {
        metadata: { name, namespace, labels, annotations, resourceVersion: current.metadata!.resourceVersion },
        data: savedEnvironments.data,
      },
    });
  } else {
    await gone(['-n', SYSTEM, `configmap/${ENVIRONMENTS_CONFIGMAP}`]);
  }
});

describe('manifests (kubectl apply -k)', () => {
  it('pass a server-side dry run, then apply for real, leaving nothing to diff', async () => {
    const dry = await ok(['apply', '-k', join(root, 'manifests'), '--dry-run=server']);
    expect(dry).toMatch(/deployment\.apps\/c2d-engine (created|configured|unchanged) \(server dry run\)/);
    await ok(['apply', '-k', join(root, 'manifests')]);
    // Nothing left to change: `kubectl diff` exits 0 only when the live objects equal the manifests.
    const diff = await kubectl(['diff', '-k', join(root, 'manifests')]);
    expect(diff.code, diff.stdout + diff.stderr).toBe(0);
  });

  it('leave the objects in place as written', async () => {
    const ns = await core.readNamespace({ name: JOBS });
    expect(ns.metadata?.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    const deployment = JSON.parse(await ok(['get', '-n', SYSTEM, 'deployment/c2d-engine', '-o', 'json'])) as {
      spec: { replicas: number; template: { spec: { serviceAccountName: string } } };
    };
    expect(deployment.spec.replicas).toBe(2);
    expect(deployment.spec.template.spec.serviceAccountName).toBe('c2d-engine');
    const envs = await core.readNamespacedConfigMap({ name: ENVIRONMENTS_CONFIGMAP, namespace: SYSTEM });
    expect(JSON.parse(envs.data!['environments.json']!)[0].id).toBe('default');
    const policies = await ok(['get', 'networkpolicies', '-n', JOBS, '-o', 'name']);
    expect(policies.split('\n').filter(Boolean).sort()).toEqual(
      ['algorithm-network-egress', 'configure-egress', 'default-deny', 'publish-egress'].map(
        (n) => `networkpolicy.networking.k8s.io/${n}`,
      ),
    );
  });

  it('are refused by the server when broken (the dry run checks something)', async () => {
    const broken = (await ok(['kustomize', join(root, 'manifests')])).replace('replicas: 2', 'replicas: two');
    const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], broken);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/replicas/);
  });
});

describe('Knative Services and the HTTPRoute', () => {
  const files = readdirSync(join(root, 'knative')).filter((f) => f.endsWith('.yaml'));

  it('pass the real CRD schemas (server-side dry-run create)', async () => {
    expect(files).toHaveLength(FUNCTION_NAMES.length + 2);
    for (const f of files) {
      const out = await ok(['create', '--dry-run=server', '-n', SYSTEM, '-f', join(root, 'knative', f), '-o', 'name']);
      expect(out, f).toMatch(
        f === 'httproute.yaml'
          ? /^httproute\.gateway\.networking\.k8s\.io\/c2d-provider$/m
          : f === 'referencegrant.yaml'
            ? /^referencegrant\.gateway\.networking\.k8s\.io\/c2d-provider-routes$/m
            : /^service\.serving\.knative\.dev\/c2d-/m,
      );
    }
  });

  it('are refused by the schemas when malformed', async () => {
    const ksvc = readFileSync(join(root, 'knative/status.yaml'), 'utf8').replace(
      'timeoutSeconds: 30',
      'timeoutSeconds: thirty',
    );
    const badService = await kubectl(['create', '--dry-run=server', '-n', SYSTEM, '-f', '-'], ksvc);
    expect(badService.code).not.toBe(0);
    expect(badService.stderr).toMatch(/timeoutSeconds/);
    const route = readFileSync(join(root, 'knative/httproute.yaml'), 'utf8').replace('method: PUT', 'method: FETCH');
    const badRoute = await kubectl(['create', '--dry-run=server', '-n', SYSTEM, '-f', '-'], route);
    expect(badRoute.code).not.toBe(0);
    expect(badRoute.stderr).toMatch(/method/);
  });
});

describe('knative/deploy.sh', () => {
  const script = join(root, 'knative/deploy.sh');
  const deploy = (args: string[]) =>
    run('bash', [script, ...args], { env: { ...process.env, KN: env.kn }, cwd: root }).then(
      (r) => ({ ...r, code: 0 }),
      (err: { stdout: string; stderr: string; code: number }) => err,
    );

  it('refuses bad arguments before running anything', async () => {
    for (const args of [
      ['UPPER/x', SYSTEM],
      ['ok.example', 'Not_A_Namespace'],
      ['ok.example;id', SYSTEM],
      ['ok.example', SYSTEM, '--tag', '$(id)'],
      ['ok.example', SYSTEM, '--kubeconfig', '/nonexistent/kubeconfig'],
      ['ok.example'],
    ]) {
      const r = await deploy(args);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stdout, args.join(' ')).not.toMatch(/deploying/);
    }
  });

  it('refuses to deploy while the settings it references are missing', async () => {
    const r = await deploy([REGISTRY, SYSTEM, '--no-wait', '--kubeconfig', env.kubeconfig]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/configmap\/c2d-provider/);
    const badGateway = await deploy([REGISTRY, SYSTEM, '--local-gateway', 'traefik', '--kubeconfig', env.kubeconfig]);
    expect(badGateway.code).not.toBe(0);
    expect(badGateway.stderr).toMatch(/--local-gateway must be NAMESPACE\/SERVICE/);
  });

  it('applies every function with kn and the HTTPRoute (no Knative controller here: --no-wait); a rerun is a no-op', async () => {
    // The settings a publisher creates (docs/deploy.md); values from this platform, never from the repository.
    const { Wallet } = await import('ethers');
    const provider = new Wallet(env.keys.provider);
    await ok([
      'create',
      'configmap',
      'c2d-provider',
      '-n',
      SYSTEM,
      `--from-literal=CHAIN_ID=${env.chainId}`,
      `--from-literal=RPC_URL=${env.rpcUrl}`,
      `--from-literal=PROVIDER_ADDRESS=${provider.address}`,
      `--from-literal=PROVIDER_PUBLIC_KEY=${provider.signingKey.publicKey}`,
      `--from-literal=ERC721_FACTORY_ADDRESS=${env.ocean.ERC721Factory}`,
    ]);
    // Secrets through the API, so no key appears on a command line.
    await core.createNamespacedSecret({
      namespace: SYSTEM,
      body: { metadata: { name: 'c2d-provider-key' }, stringData: { privateKey: env.keys.provider } },
    });
    await core.createNamespacedSecret({
      namespace: SYSTEM,
      body: {
        metadata: { name: 'c2d-results-store' },
        stringData: { ...env.s3 },
      },
    });

    // The ingress's local gateway (no ingress runs here: its Service alone, as the routes only name it).
    const refused = await deploy([REGISTRY, SYSTEM, '--no-wait', '--kubeconfig', env.kubeconfig]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/no Service traefik-private in namespace traefik/);
    await core.createNamespace({ body: { metadata: { name: LOCAL_GATEWAY_NAMESPACE } } });
    await core.createNamespacedService({
      namespace: LOCAL_GATEWAY_NAMESPACE,
      body: {
        metadata: { name: 'traefik-private' },
        spec: { selector: { app: 'traefik' }, ports: [{ name: 'http', port: 80, targetPort: 'private' }] },
      },
    });

    const first = await deploy([REGISTRY, SYSTEM, '--no-wait', '--kubeconfig', env.kubeconfig]);
    expect(first.code, first.stderr).toBe(0);
    const generations = new Map<string, number>();
    for (const fn of FUNCTION_NAMES) {
      const svc = (await custom.getNamespacedCustomObject({
        group: 'serving.knative.dev',
        version: 'v1',
        namespace: SYSTEM,
        plural: 'services',
        name: `c2d-${fn}`,
      })) as {
        metadata: { generation: number };
        spec: {
          template: {
            spec: {
              serviceAccountName: string;
              containers: { image: string; env: { name: string; value?: string }[] }[];
            };
          };
        };
      };
      const spec = svc.spec.template.spec;
      expect(spec.serviceAccountName).toBe(`c2d-fn-${fn}`);
      expect(spec.containers[0]!.image).toBe(`${REGISTRY}/c2d/functions:0.1.0`);
      expect(spec.containers[0]!.env).toEqual(
        expect.arrayContaining([
          { name: 'FUNCTION_TARGET', value: fn },
          { name: 'SYSTEM_NAMESPACE', value: SYSTEM },
        ]),
      );
      generations.set(fn, svc.metadata.generation);
    }
    const route = (await custom.getNamespacedCustomObject({
      group: 'gateway.networking.k8s.io',
      version: 'v1',
      namespace: SYSTEM,
      plural: 'httproutes',
      name: 'c2d-provider',
    })) as { spec: { rules: unknown[] } };
    expect(route.spec.rules).toHaveLength(ENDPOINTS.length + 1);
    const routeV2 = (await custom.getNamespacedCustomObject({
      group: 'gateway.networking.k8s.io',
      version: 'v1',
      namespace: SYSTEM,
      plural: 'httproutes',
      name: 'c2d-provider-v2',
    })) as { spec: { rules: unknown[] } };
    expect(routeV2.spec.rules).toHaveLength(V2_ENDPOINTS.length + 1);
    const grant = (await custom.getNamespacedCustomObject({
      group: 'gateway.networking.k8s.io',
      version: 'v1beta1',
      namespace: LOCAL_GATEWAY_NAMESPACE,
      plural: 'referencegrants',
      name: 'c2d-provider-routes',
    })) as { spec: { from: { namespace: string }[]; to: { name: string }[] } };
    expect(grant.spec.from[0]!.namespace).toBe(SYSTEM);
    expect(grant.spec.to[0]!.name).toBe('traefik-private');

    const second = await deploy([REGISTRY, SYSTEM, '--no-wait', '--kubeconfig', env.kubeconfig]);
    expect(second.code, second.stderr).toBe(0);
    for (const fn of FUNCTION_NAMES) {
      const svc = (await custom.getNamespacedCustomObject({
        group: 'serving.knative.dev',
        version: 'v1',
        namespace: SYSTEM,
        plural: 'services',
        name: `c2d-${fn}`,
      })) as { metadata: { generation: number } };
      expect(svc.metadata.generation, fn).toBe(generations.get(fn));
    }
  });
});

// ---- RBAC ------------------------------------------------------------------------------------------------------

interface Grant {
  ns: string;
  resource: string;
  verbs: string[];
  names?: string[];
}
const nonceRw: Grant = { ns: SYSTEM, resource: 'configmaps', verbs: ['get', 'create', 'update'] };
const envRead: Grant = { ns: SYSTEM, resource: 'configmaps', verbs: ['get'], names: [ENVIRONMENTS_CONFIGMAP] };

/** What each ServiceAccount may do: exactly this, nothing more (compared with `kubectl auth can-i --list`). */
const GRANTS: Record<string, Grant[]> = {
  'c2d-engine': [
    { ns: JOBS, resource: 'configmaps', verbs: ['get', 'list', 'watch', 'patch', 'delete'] },
    { ns: JOBS, resource: 'pods', verbs: ['get', 'list', 'watch', 'create', 'delete'] },
    { ns: JOBS, resource: 'persistentvolumeclaims', verbs: ['list', 'watch', 'create', 'delete'] },
    { ns: JOBS, resource: 'secrets', verbs: ['list', 'watch', 'delete'] },
    { ns: JOBS, resource: 'events', verbs: ['create'] },
    { ns: SYSTEM, resource: 'configmaps', verbs: ['get', 'list', 'watch'], names: [ENVIRONMENTS_CONFIGMAP] },
    { ns: SYSTEM, resource: 'leases.coordination.k8s.io', verbs: ['create'] },
    { ns: SYSTEM, resource: 'leases.coordination.k8s.io', verbs: ['get', 'update'], names: ['c2d-engine'] },
    { ns: SYSTEM, resource: 'leases.coordination.k8s.io', verbs: ['get', 'update'], names: ['c2d-provider-tx'] },
  ],
  'c2d-fn-info': [],
  'c2d-fn-encrypt': [],
  'c2d-fn-nonce': [{ ns: SYSTEM, resource: 'configmaps', verbs: ['get'] }],
  'c2d-fn-initialize': [envRead],
  'c2d-fn-environments': [envRead, { ns: JOBS, resource: 'configmaps', verbs: ['list'] }],
  'c2d-fn-auth': [nonceRw],
  'c2d-fn-start': [
    nonceRw,
    { ns: SYSTEM, resource: 'leases.coordination.k8s.io', verbs: ['create'] },
    { ns: SYSTEM, resource: 'leases.coordination.k8s.io', verbs: ['get', 'update'], names: ['c2d-provider-tx'] },
    { ns: JOBS, resource: 'configmaps', verbs: ['get', 'list', 'create', 'patch', 'delete'] },
    { ns: JOBS, resource: 'secrets', verbs: ['create'] },
  ],
  'c2d-fn-status': [nonceRw, { ns: JOBS, resource: 'configmaps', verbs: ['get', 'list', 'watch'] }],
  'c2d-fn-stop': [nonceRw, { ns: JOBS, resource: 'configmaps', verbs: ['get', 'patch'] }],
  'c2d-fn-delete': [nonceRw, { ns: JOBS, resource: 'configmaps', verbs: ['get', 'delete'] }],
  'c2d-fn-result': [nonceRw, { ns: JOBS, resource: 'configmaps', verbs: ['get'] }],
  'c2d-fn-logs': [
    nonceRw,
    { ns: JOBS, resource: 'configmaps', verbs: ['get'] },
    { ns: JOBS, resource: 'pods', verbs: ['get'] },
    { ns: JOBS, resource: 'pods/log', verbs: ['get'] },
  ],
};

/** Asked of every ServiceAccount; each must be refused. [verb, resource, namespace ('' = cluster scope)] */
const FORBIDDEN: [string, string, string][] = [
  ['get', 'secrets', JOBS],
  ['list', 'secrets', SYSTEM],
  ['get', 'secrets/c2d-provider-key', SYSTEM],
  ['get', 'secrets', 'default'],
  ['get', 'secrets', 'kube-system'],
  ['create', 'pods', 'default'],
  ['create', 'pods', 'kube-system'],
  ['create', 'pods', SYSTEM],
  ['list', 'pods', 'kube-system'],
  ['create', 'pods/exec', JOBS],
  ['get', 'configmaps', 'kube-system'],
  ['create', 'roles.rbac.authorization.k8s.io', JOBS],
  ['create', 'rolebindings.rbac.authorization.k8s.io', SYSTEM],
  ['escalate', 'roles.rbac.authorization.k8s.io', JOBS],
  ['bind', 'clusterroles.rbac.authorization.k8s.io', ''],
  ['create', 'clusterrolebindings.rbac.authorization.k8s.io', ''],
  ['get', 'nodes', ''],
  ['list', 'namespaces', ''],
  ['impersonate', 'serviceaccounts', SYSTEM],
  ['create', 'serviceaccounts/token', SYSTEM],
  ['update', 'deployments.apps', SYSTEM],
  ['create', 'services.serving.knative.dev', SYSTEM],
  ['patch', 'namespaces', ''],
  ['*', '*', JOBS],
  ['*', '*', ''],
];

const identity = (sa: string) => [
  '--as',
  `system:serviceaccount:${SYSTEM}:${sa}`,
  '--as-group',
  'system:serviceaccounts',
  '--as-group',
  `system:serviceaccounts:${SYSTEM}`,
  '--as-group',
  'system:authenticated',
];

/** `resource` is `kind`, `kind/name`, or one of SUBRESOURCES (which kubectl takes as --subresource, not a name). */
const SUBRESOURCES = new Set(['pods/log', 'pods/exec', 'serviceaccounts/token']);

async function canI(sa: string, verb: string, resource: string, ns: string): Promise<'yes' | 'no'> {
  const what = SUBRESOURCES.has(resource)
    ? [resource.split('/')[0]!, `--subresource=${resource.split('/')[1]!}`]
    : [resource];
  const r = await kubectl(['auth', 'can-i', verb, ...what, ...(ns ? ['-n', ns] : []), ...identity(sa)]);
  const answer = r.stdout.trim();
  if (answer !== 'yes' && answer !== 'no')
    throw new Error(`kubectl auth can-i ${verb} ${resource}: ${r.stdout} ${r.stderr}`);
  return answer;
}

/** `kubectl auth can-i --list` as `resource|names|verb` entries, without what every authenticated user may do. */
async function listed(sa: string, ns: string): Promise<string[]> {
  const out = await ok(['auth', 'can-i', '--list', '-n', ns, ...identity(sa)]);
  const entries: string[] = [];
  for (const line of out.split('\n').slice(1)) {
    if (!line || line.startsWith(' ')) continue; // non-resource URLs
    const [resource, , names, verbs] = line.trim().split(/\s{2,}/);
    if (!resource || /^self(subject)?\w*reviews\./.test(resource)) continue;
    const nameList = names!
      .replace(/^\[|\]$/g, '')
      .split(' ')
      .filter(Boolean)
      .sort()
      .join(',');
    for (const verb of verbs!.replace(/^\[|\]$/g, '').split(' ')) entries.push(`${resource}|${nameList}|${verb}`);
  }
  return [...new Set(entries)].sort();
}

describe('RBAC: kubectl auth can-i for every ServiceAccount', () => {
  const accounts = Object.keys(GRANTS);

  it('covers every ServiceAccount the manifests create', async () => {
    const out = await ok([
      'get',
      'serviceaccounts',
      '-n',
      SYSTEM,
      '-l',
      'app.kubernetes.io/part-of=c2d',
      '-o',
      'jsonpath={.items[*].metadata.name}',
    ]);
    expect(out.split(' ').sort()).toEqual(accounts.sort());
    expect(accounts.filter((a) => a.startsWith('c2d-fn-')).sort()).toEqual(
      FUNCTION_NAMES.map((f) => `c2d-fn-${f}`).sort(),
    );
  });

  it('grants each ServiceAccount exactly its rules in each namespace, and nothing anywhere else', async () => {
    const cases = accounts.flatMap((sa) => [SYSTEM, JOBS, 'default', 'kube-system'].map((ns) => ({ sa, ns })));
    const results = await pool(cases, 4, async ({ sa, ns }) => ({ sa, ns, got: await listed(sa, ns) }));
    for (const { sa, ns, got } of results) {
      const want = GRANTS[sa]!.filter((g) => g.ns === ns).flatMap((g) =>
        g.verbs.map((v) => `${g.resource}|${(g.names ?? []).slice().sort().join(',')}|${v}`),
      );
      expect(got, `${sa} in ${ns}`).toEqual([...new Set(want)].sort());
    }
  });

  it('answers yes for every permitted verb', async () => {
    const cases = accounts.flatMap((sa) =>
      GRANTS[sa]!.flatMap((g) =>
        g.verbs.map((verb) => ({ sa, verb, resource: g.names ? `${g.resource}/${g.names[0]}` : g.resource, ns: g.ns })),
      ),
    );
    expect(cases.length).toBeGreaterThan(40);
    const answers = await pool(cases, 4, async (c) => ({ ...c, answer: await canI(c.sa, c.verb, c.resource, c.ns) }));
    for (const a of answers) expect(a.answer, `${a.sa} ${a.verb} ${a.resource} -n ${a.ns}`).toBe('yes');
  });

  it('answers no for secrets and pods elsewhere, RBAC objects, nodes and `*`', async () => {
    const cases = accounts.flatMap((sa) => FORBIDDEN.map(([verb, resource, ns]) => ({ sa, verb, resource, ns })));
    const answers = await pool(cases, 4, async (c) => ({ ...c, answer: await canI(c.sa, c.verb, c.resource, c.ns) }));
    for (const a of answers) expect(a.answer, `${a.sa} ${a.verb} ${a.resource} -n ${a.ns || '(cluster)'}`).toBe('no');
  });

  it('keeps the engine to its own Lease and the environments ConfigMap by name', async () => {
    expect(await canI('c2d-engine', 'update', 'leases.coordination.k8s.io/other-lease', SYSTEM)).toBe('no');
    expect(await canI('c2d-fn-start', 'update', 'leases.coordination.k8s.io/c2d-engine', SYSTEM)).toBe('no');
    expect(await canI('c2d-fn-start', 'get', 'leases.coordination.k8s.io/c2d-engine', SYSTEM)).toBe('no');
    expect(await canI('c2d-engine', 'get', 'configmaps/c2d-provider', SYSTEM)).toBe('no');
    expect(await canI('c2d-fn-initialize', 'get', 'configmaps/nonce-x', SYSTEM)).toBe('no');
  });

  it('holds for a real ServiceAccount token, not only for impersonation', async () => {
    const token = (await ok(['create', 'token', 'c2d-fn-status', '-n', SYSTEM, '--duration=10m'])).trim();
    const cluster = kc.getCurrentCluster()!;
    const asStatus = new KubeConfig();
    asStatus.loadFromOptions({
      clusters: [cluster],
      users: [{ name: 'c2d-fn-status', token }],
      contexts: [{ name: 'sa', cluster: cluster.name, user: 'c2d-fn-status' }],
      currentContext: 'sa',
    });
    const api = asStatus.makeApiClient(CoreV1Api);
    await expect(api.listNamespacedConfigMap({ namespace: JOBS })).resolves.toBeDefined();
    await expect(api.listNamespacedSecret({ namespace: JOBS })).rejects.toMatchObject({ code: 403 });
    await expect(api.listNamespacedPod({ namespace: JOBS })).rejects.toMatchObject({ code: 403 });
    await expect(api.listNamespacedConfigMap({ namespace: 'kube-system' })).rejects.toMatchObject({ code: 403 });
  });
});

describe("admission policy on the functions' ConfigMap writes in c2d-system", () => {
  const asFn = (sa: string) => identity(sa);

  it('lets a function write a nonce ConfigMap', async () => {
    const name = `nonce-${'a'.repeat(64)}`;
    const manifest = JSON.stringify({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name,
        namespace: SYSTEM,
        labels: { 'app.kubernetes.io/part-of': 'c2d', 'app.kubernetes.io/component': 'nonce' },
      },
      data: { nonce: '1' },
    });
    const r = await kubectl(['create', '--dry-run=server', '-f', '-', ...asFn('c2d-fn-status')], manifest);
    expect(r.code, r.stderr).toBe(0);
  });

  it('refuses a function writing any other ConfigMap there, though RBAC alone would allow it', async () => {
    expect(await canI('c2d-fn-status', 'update', `configmaps/${ENVIRONMENTS_CONFIGMAP}`, SYSTEM)).toBe('yes');
    const current = await core.readNamespacedConfigMap({ name: ENVIRONMENTS_CONFIGMAP, namespace: SYSTEM });
    const tampered = JSON.stringify({
      ...current,
      apiVersion: 'v1',
      kind: 'ConfigMap',
      data: { 'environments.json': '[]' },
    });
    const update = await kubectl(['replace', '--dry-run=server', '-f', '-', ...asFn('c2d-fn-status')], tampered);
    expect(update.code).not.toBe(0);
    expect(update.stderr).toMatch(/c2d-function-nonce-writes|only write nonce and auth token ConfigMaps/);
    const other = JSON.stringify({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c2d-provider-override', namespace: SYSTEM },
      data: {},
    });
    const create = await kubectl(['create', '--dry-run=server', '-f', '-', ...asFn('c2d-fn-start')], other);
    expect(create.code).not.toBe(0);
    expect(create.stderr).toMatch(/only write nonce and auth token ConfigMaps/);
    // Administrators and the engine are not affected.
    const admin = await kubectl(['replace', '--dry-run=server', '-f', '-'], tampered);
    expect(admin.code, admin.stderr).toBe(0);
  });
});

describe("admission policy on the functions' Lease writes", () => {
  const lease = (name: string): string =>
    JSON.stringify({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name, namespace: SYSTEM },
      spec: {},
    });

  it('lets start create the provider transaction lease and no other, though RBAC alone would allow it', async () => {
    const ours = await kubectl(
      ['create', '--dry-run=server', '-f', '-', ...identity('c2d-fn-start')],
      lease('c2d-provider-tx'),
    );
    expect(ours.code, ours.stderr).toBe(0);
    expect(await canI('c2d-fn-start', 'create', 'leases.coordination.k8s.io', SYSTEM)).toBe('yes');
    const other = await kubectl(
      ['create', '--dry-run=server', '-f', '-', ...identity('c2d-fn-start')],
      lease('c2d-engine-x'),
    );
    expect(other.code).not.toBe(0);
    expect(other.stderr).toMatch(/only write the Lease c2d-provider-tx/);
    // The engine is not affected.
    const engine = await kubectl(
      ['create', '--dry-run=server', '-f', '-', ...identity('c2d-engine')],
      lease('c2d-engine-x'),
    );
    expect(engine.code, engine.stderr).toBe(0);
  });
});

// ---- PodSecurity ---------------------------------------------------------------------------------------------------

describe('pods the engine builds, under PodSecurity restricted in the jobs namespace', () => {
  const ref = (allowNetworkAccess: boolean) => ({
    name: 'c2d-job-0123456789abcdef0123456789abcdef',
    uid: '7d1c1d3e-1a44-4c3c-9d5e-2f4f5e6a7b8c',
    namespace: JOBS,
    workflow: parseWorkflow(workflow({ allowNetworkAccess })),
  });
  const dryRun = (pod: V1Pod) => core.createNamespacedPod({ namespace: JOBS, body: pod, dryRun: 'All' });

  it('admits every stage pod and the job volume (server dry run, quota and limits applied)', async () => {
    for (const net of [false, true]) {
      for (const stage of STAGES) {
        const created = await dryRun(buildStagePod(stage, ref(net), DEFAULT_POD_SPEC_SETTINGS));
        expect(created.metadata?.name).toMatch(new RegExp(`-${stage}$`));
        expect(created.spec?.automountServiceAccountToken).toBe(false);
      }
    }
    const pvc = await core.createNamespacedPersistentVolumeClaim({
      namespace: JOBS,
      body: buildPvc(ref(false), DEFAULT_POD_SPEC_SETTINGS),
      dryRun: 'All',
    });
    expect(pvc.metadata?.name).toMatch(/-data$/);
  });

  it('refuses the same pod once it could run as root or escalate (the namespace really enforces restricted)', async () => {
    const pod = buildStagePod('algorithm', ref(false), DEFAULT_POD_SPEC_SETTINGS);
    const c = pod.spec!.containers[0]!;
    c.securityContext = { ...c.securityContext, allowPrivilegeEscalation: true, runAsNonRoot: false };
    pod.spec!.securityContext = { ...pod.spec!.securityContext, runAsNonRoot: false };
    const refused = await dryRun(pod).then(
      () => undefined,
      (err: { code?: number; body?: unknown }) => err,
    );
    expect(refused?.code).toBe(403);
    const message = (JSON.parse(String(refused?.body)) as { message: string }).message;
    expect(message).toMatch(/violates PodSecurity "restricted:latest": .*allowPrivilegeEscalation != false/);
  });
});
