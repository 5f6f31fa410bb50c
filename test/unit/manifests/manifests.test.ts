import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  loadAllYaml,
  type KubernetesObject,
  type V1Container,
  type V1Deployment,
  type V1LabelSelector,
  type V1NetworkPolicy,
  type V1Pod,
  type V1PodSpec,
  type V1Role,
  type V1RoleBinding,
} from '@kubernetes/client-node';
import { loadAll } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { buildStagePod, DEFAULT_POD_SPEC_SETTINGS } from '../../../engine/pod-specs.ts';
import { FUNCTION_NAMES, mountedEndpoints } from '../../../lib/api/endpoints.ts';
import { ENVIRONMENTS_CONFIGMAP, ENVIRONMENTS_KEY, parseEnvironments } from '../../../lib/job/environments.ts';
import { LABELS, NETWORK_ALLOW, STAGES } from '../../../lib/job/names.ts';
import { RESULTS_STORE_ENV } from '../../../lib/job/results-store-config.ts';
import { PROVIDER_TX_LEASE } from '../../../lib/payment/provider-tx.ts';
import { STOP_ANNOTATION } from '../../../lib/job/configmap.ts';
import {
  FINAL_CODES,
  initialStatus,
  isFinal,
  serializeStatus,
  STATUS_TEXT,
  StatusCode,
} from '../../../lib/job/status.ts';
import { parseWorkflow } from '../../../lib/job/workflow.ts';
import { PROVIDER_KEY_HOLDERS } from '../../../functions/gateway.ts';
import { workflow } from '../../support/job-fixtures.ts';
import { ENGINE_NODE_OPTIONS } from '../../../devcluster/local-stack.ts';

/**
 * Security invariants of everything this repository deploys: the kustomize manifests, the Knative Services and the
 * HTTPRoute. Parsed from the files as they are; the integration test (test/integration/deploy.test.ts) sends the same
 * files to a real API server.
 */

const root = join(import.meta.dirname, '../../..');
const MANIFESTS = join(root, 'manifests');
const KNATIVE = join(root, 'knative');

interface Loaded {
  file: string;
  obj: KubernetesObject & Record<string, unknown>;
}

/**
 * Core objects go through client-node's typed loader. Knative Services cannot: it picks the model from version and
 * kind alone, so `serving.knative.dev/v1` Service becomes a core V1Service and loses its spec; CRD objects are read
 * as plain YAML (js-yaml, the parser client-node itself uses).
 */
function loadDir(dir: string, load: (text: string) => unknown[]): Loaded[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
    .sort()
    .flatMap((f) => load(readFileSync(join(dir, f), 'utf8')).map((obj) => ({ file: f, obj: obj as Loaded['obj'] })));
}

const manifests = loadDir(MANIFESTS, (text) => loadAllYaml(text));
const knative = loadDir(KNATIVE, (text) => loadAll(text));
const all = [...manifests, ...knative];
const ofKind = <T>(items: Loaded[], kind: string): (T & Loaded['obj'])[] =>
  items.filter((l) => l.obj.kind === kind).map((l) => l.obj as T & Loaded['obj']);
const roles = ofKind<V1Role>(manifests, 'Role');
const bindings = ofKind<V1RoleBinding>(manifests, 'RoleBinding');
const serviceAccounts = ofKind<KubernetesObject>(manifests, 'ServiceAccount');
const kservices = knative.filter((l) => l.obj.kind === 'Service' && l.obj.apiVersion === 'serving.knative.dev/v1');
const policies = ofKind<V1NetworkPolicy>(manifests, 'NetworkPolicy');
const engine = ofKind<V1Deployment>(manifests, 'Deployment').find((d) => d.metadata?.name === 'c2d-engine');

type KnativeService = {
  metadata: { name: string; labels?: Record<string, string> };
  spec: {
    template: {
      metadata: { annotations?: Record<string, string> };
      spec: V1PodSpec & { timeoutSeconds?: number; containerConcurrency?: number };
    };
  };
};
const ksvc = (l: Loaded): KnativeService => l.obj as unknown as KnativeService;

/** Every pod spec this repository deploys, with where it comes from. */
function podSpecs(): { where: string; spec: V1PodSpec }[] {
  const specs: { where: string; spec: V1PodSpec }[] = [];
  for (const l of all) {
    const template = (l.obj as { spec?: { template?: { spec?: V1PodSpec } } }).spec?.template?.spec;
    if (template?.containers) specs.push({ where: `${l.file}:${l.obj.kind}/${l.obj.metadata?.name}`, spec: template });
  }
  return specs;
}

describe('the files', () => {
  it('are all listed in the kustomization, and it lists nothing else', () => {
    const kustomization = readFileSync(join(MANIFESTS, 'kustomization.yaml'), 'utf8');
    const listed = [...kustomization.matchAll(/^ {2}- ([\w.-]+\.yaml)$/gm)].map((m) => m[1]).sort();
    const present = readdirSync(MANIFESTS)
      .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
      .sort();
    expect(listed).toEqual(present);
  });

  it('parse into objects that keep their specs', () => {
    expect(manifests.length).toBeGreaterThan(40);
    expect(kservices).toHaveLength(FUNCTION_NAMES.length);
    for (const l of kservices) expect(ksvc(l).spec.template.spec.containers).toHaveLength(1);
  });
});

describe('RBAC', () => {
  it('has no cluster-wide grants and no ClusterRole bindings', () => {
    for (const kind of ['ClusterRole', 'ClusterRoleBinding']) expect(ofKind(manifests, kind)).toEqual([]);
    for (const b of bindings) {
      expect(b.roleRef.kind, b.metadata?.name).toBe('Role');
      expect(b.roleRef.name).not.toMatch(/admin|edit/);
    }
  });

  it('has no wildcard anywhere in a rule', () => {
    expect(roles.length).toBeGreaterThan(10);
    for (const role of roles) {
      for (const rule of role.rules ?? []) {
        for (const list of [rule.verbs, rule.resources ?? [], rule.apiGroups ?? [], rule.resourceNames ?? []]) {
          expect(
            list.some((v) => v.includes('*')),
            `${role.metadata?.namespace}/${role.metadata?.name}`,
          ).toBe(false);
        }
      }
    }
  });

  it('never lets a function read a Secret, and never lets anything escalate, impersonate or touch RBAC or nodes', () => {
    for (const role of roles) {
      for (const rule of role.rules ?? []) {
        expect(rule.verbs).not.toEqual(expect.arrayContaining(['escalate']));
        expect(rule.verbs).not.toEqual(expect.arrayContaining(['bind']));
        expect(rule.verbs).not.toEqual(expect.arrayContaining(['impersonate']));
        expect(rule.apiGroups).not.toContain('rbac.authorization.k8s.io');
        expect(rule.resources).not.toEqual(expect.arrayContaining(['nodes']));
        if (role.metadata?.name?.startsWith('c2d-fn-') && rule.resources?.includes('secrets')) {
          expect(rule.verbs, role.metadata.name).toEqual(['create']);
        }
      }
    }
  });

  it('binds every Role to exactly the ServiceAccount of the same name, and every subject exists', () => {
    const accounts = new Set(serviceAccounts.map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`));
    for (const b of bindings) {
      expect(b.roleRef.name).toBe(b.metadata?.name);
      expect(
        roles.some((r) => r.metadata?.name === b.roleRef.name && r.metadata?.namespace === b.metadata?.namespace),
      ).toBe(true);
      expect(b.subjects).toHaveLength(1);
      const s = b.subjects![0]!;
      expect(s.kind).toBe('ServiceAccount');
      expect(accounts.has(`${s.namespace}/${s.name}`), `${s.namespace}/${s.name}`).toBe(true);
      expect(s.name).toBe(b.metadata?.name);
    }
  });

  it('gives each function its own ServiceAccount, and no token to those that never call Kubernetes', () => {
    for (const fn of FUNCTION_NAMES) {
      const sa = serviceAccounts.find((s) => s.metadata?.name === `c2d-fn-${fn}`) as
        { automountServiceAccountToken?: boolean } | undefined;
      expect(sa, fn).toBeDefined();
      const hasRole = roles.some((r) => r.metadata?.name === `c2d-fn-${fn}`);
      if (!hasRole) expect(sa!.automountServiceAccountToken, fn).toBe(false);
    }
    expect(roles.some((r) => r.metadata?.name === 'c2d-fn-info' || r.metadata?.name === 'c2d-fn-encrypt')).toBe(false);
  });

  it("limits the engine's reads of the system namespace and its Lease to their names", () => {
    const system = roles.find((r) => r.metadata?.name === 'c2d-engine' && r.metadata.namespace === 'c2d-system')!;
    const cm = system.rules!.find((r) => r.resources?.includes('configmaps'))!;
    expect(cm.resourceNames).toEqual([ENVIRONMENTS_CONFIGMAP]);
    const leaseUse = system.rules!.find((r) => r.resources?.includes('leases') && r.verbs.includes('update'))!;
    expect(leaseUse.resourceNames).toEqual(['c2d-engine', 'c2d-provider-tx']);
  });

  it("limits start's Leases to the provider transaction lease: by name in RBAC, and at admission for create", () => {
    const start = roles.find((r) => r.metadata?.name === 'c2d-fn-start' && r.metadata.namespace === 'c2d-system')!;
    const leaseRules = start.rules!.filter((r) => r.resources?.includes('leases'));
    expect(leaseRules).toEqual([
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
      {
        apiGroups: ['coordination.k8s.io'],
        resources: ['leases'],
        resourceNames: [PROVIDER_TX_LEASE],
        verbs: ['get', 'update'],
      },
    ]);
    const others = roles.filter((r) => r.metadata?.name?.startsWith('c2d-fn-') && r.metadata.name !== 'c2d-fn-start');
    expect(others.flatMap((r) => r.rules!.filter((rule) => rule.resources?.includes('leases')))).toEqual([]);
  });
});

describe('containers', () => {
  const containersOf = (spec: V1PodSpec): V1Container[] => [...(spec.initContainers ?? []), ...spec.containers];

  it('all run non-root, read-only, unprivileged, with no capabilities, seccomp and resource limits', () => {
    const specs = podSpecs();
    expect(specs.length).toBe(FUNCTION_NAMES.length + 1);
    for (const { where, spec } of specs) {
      expect(spec.hostNetwork ?? false, where).toBe(false);
      expect(spec.hostPID ?? false, where).toBe(false);
      expect(spec.hostIPC ?? false, where).toBe(false);
      for (const c of containersOf(spec)) {
        const sc = c.securityContext ?? {};
        const pod = spec.securityContext ?? {};
        expect(sc.runAsNonRoot ?? pod.runAsNonRoot, where).toBe(true);
        expect((sc.runAsUser ?? pod.runAsUser ?? 0) > 0, where).toBe(true);
        expect(sc.readOnlyRootFilesystem, where).toBe(true);
        expect(sc.allowPrivilegeEscalation, where).toBe(false);
        expect(sc.privileged ?? false, where).toBe(false);
        expect(sc.capabilities?.drop, where).toEqual(['ALL']);
        expect(sc.capabilities?.add ?? [], where).toEqual([]);
        expect((sc.seccompProfile ?? pod.seccompProfile)?.type, where).toBe('RuntimeDefault');
        expect(c.resources?.requests?.cpu && c.resources.requests.memory, where).toBeTruthy();
        expect(c.resources?.limits?.memory, where).toBeTruthy();
        expect(c.image, where).toMatch(/^c2d\/(functions|engine):\d+\.\d+\.\d+$/);
      }
    }
  });
});

describe('secrets', () => {
  it('are never in the repository: no Secret objects, no generators, no key-shaped literals', () => {
    expect(all.filter((l) => l.obj.kind === 'Secret')).toEqual([]);
    const kustomization = readFileSync(join(MANIFESTS, 'kustomization.yaml'), 'utf8');
    expect(kustomization).not.toMatch(/secretGenerator/);
    const files = [
      ...readdirSync(MANIFESTS).map((f) => join(MANIFESTS, f)),
      ...readdirSync(KNATIVE).map((f) => join(KNATIVE, f)),
    ];
    for (const f of files) {
      const text = readFileSync(f, 'utf8');
      expect(text, f).not.toMatch(/\b(0x)?[0-9a-fA-F]{64}\b/); // private-key shape
      expect(text, f).not.toMatch(/BEGIN [A-Z ]*PRIVATE KEY/);
      expect(text, f).not.toMatch(/\bAKIA[0-9A-Z]{16}\b/); // AWS access key id
    }
  });

  it('reach containers only by reference: secret-like variables come from secretKeyRef, never a value', () => {
    // Variables that hold the *name* of a Secret or the path of a mounted one, not its content.
    const names = new Set(['RESULTS_STORE_SECRET']);
    for (const { where, spec } of podSpecs()) {
      for (const c of spec.containers) {
        for (const e of c.env ?? []) {
          if (/(KEY|SECRET|PASSWORD|TOKEN)(_ID)?$/.test(e.name) && !/_FILE$/.test(e.name) && !names.has(e.name)) {
            expect(e.value, `${where} ${e.name}`).toBeUndefined();
            expect(e.valueFrom?.secretKeyRef?.name, `${where} ${e.name}`).toBeTruthy();
          }
        }
      }
    }
  });

  it('name the results store settings with the one set of variables the code reads, each from the Secret key of its setting', () => {
    let readers = 0;
    for (const { where, spec } of podSpecs()) {
      for (const c of spec.containers) {
        const store = (c.env ?? []).filter((e) => e.name.startsWith('S3_'));
        if (store.length === 0) continue;
        readers += 1;
        expect(store.map((e) => e.name).sort(), where).toEqual(Object.keys(RESULTS_STORE_ENV).sort());
        for (const e of store) {
          expect(e.valueFrom?.secretKeyRef, `${where} ${e.name}`).toEqual({
            name: 'c2d-results-store',
            key: RESULTS_STORE_ENV[e.name as keyof typeof RESULTS_STORE_ENV],
          });
        }
      }
    }
    // The engine, result, logs and delete.
    expect(readers).toBe(4);
  });

  it('give the provider key only to the functions that sign or decrypt, as a read-only file', () => {
    const withKey = kservices.filter((l) =>
      (ksvc(l).spec.template.spec.volumes ?? []).some((v) => v.secret?.secretName === 'c2d-provider-key'),
    );
    expect(withKey.map((l) => ksvc(l).metadata.name).sort()).toEqual(['c2d-initialize', 'c2d-start']);
    // The local gateway hands the key to the same functions.
    expect(withKey.map((l) => ksvc(l).metadata.name).sort()).toEqual(
      [...PROVIDER_KEY_HOLDERS].map((fn) => `c2d-${fn}`).sort(),
    );
    for (const l of withKey) {
      const c = ksvc(l).spec.template.spec.containers[0]!;
      expect(c.volumeMounts?.every((m) => m.readOnly)).toBe(true);
      expect(c.env?.find((e) => e.name === 'PROVIDER_KEY_FILE')?.value).toMatch(
        /^\/var\/run\/secrets\/c2d\/provider\/privateKey$/,
      );
    }
  });
});

describe('Knative Services', () => {
  const deployScript = readFileSync(join(KNATIVE, 'deploy.sh'), 'utf8');

  it('exist once per function, each named after it with its own ServiceAccount and target', () => {
    expect(kservices.map((l) => ksvc(l).metadata.name).sort()).toEqual(FUNCTION_NAMES.map((f) => `c2d-${f}`).sort());
    for (const fn of FUNCTION_NAMES) {
      const s = ksvc(kservices.find((l) => l.file === `${fn}.yaml`)!);
      expect(s.metadata.name).toBe(`c2d-${fn}`);
      expect(s.spec.template.spec.serviceAccountName).toBe(`c2d-fn-${fn}`);
      const env = Object.fromEntries((s.spec.template.spec.containers[0]!.env ?? []).map((e) => [e.name, e.value]));
      expect(env.FUNCTION_TARGET).toBe(fn);
      expect(env.FUNCTION_SOURCE).toBe(`dist/functions/${fn}/index.js`);
    }
  });

  it("cap V8's heap well below the container's memory limit", () => {
    for (const l of kservices) {
      const c = ksvc(l).spec.template.spec.containers[0]!;
      const options = c.env?.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '';
      const heapMiB = Number(/--max-old-space-size=(\d+)/.exec(options)?.[1]);
      const limitMiB = Number(/^(\d+)Mi$/.exec(String(c.resources?.limits?.memory))?.[1]);
      const semiMiB = Number(/--max-semi-space-size=(\d+)/.exec(options)?.[1]);
      expect(heapMiB, l.file).toBeGreaterThan(0);
      // Room for the code, the young generation and buffers outside the heap.
      expect(limitMiB - heapMiB, l.file).toBeGreaterThanOrEqual(96);
      // The young generation is three semi-spaces; Node 24's default on a large machine (64 MiB) would not fit.
      expect(semiMiB, l.file).toBeGreaterThan(0);
      expect(limitMiB - heapMiB - 3 * semiMiB, l.file).toBeGreaterThanOrEqual(48);
    }
  });

  it('scale to zero with a maximum and a concurrency target, time out, probe, and stay cluster-local', () => {
    for (const l of kservices) {
      const s = ksvc(l);
      const a = s.spec.template.metadata.annotations ?? {};
      expect(a['autoscaling.knative.dev/min-scale'], l.file).toBe('0');
      expect(Number(a['autoscaling.knative.dev/max-scale']), l.file).toBeGreaterThan(0);
      expect(Number(a['autoscaling.knative.dev/target']), l.file).toBeGreaterThan(0);
      expect(s.spec.template.spec.timeoutSeconds, l.file).toBeGreaterThan(0);
      expect(s.spec.template.spec.timeoutSeconds, l.file).toBeLessThanOrEqual(600); // Knative's default max-revision-timeout
      expect(s.spec.template.spec.containerConcurrency, l.file).toBeGreaterThan(0);
      const c = s.spec.template.spec.containers[0]!;
      expect(c.readinessProbe, l.file).toBeDefined();
      expect(c.livenessProbe, l.file).toBeDefined();
      expect(c.envFrom?.[0]?.configMapRef?.name, l.file).toBe('c2d-provider');
      expect(s.metadata.labels?.['networking.knative.dev/visibility'], l.file).toBe('cluster-local');
    }
  });

  it('are all deployed by deploy.sh', () => {
    const list = /^FUNCTIONS=\(([^)]*)\)$/m.exec(deployScript)?.[1]?.split(/\s+/).sort();
    expect(list).toEqual([...FUNCTION_NAMES].sort());
  });

  it('are reachable through the HTTPRoutes (v1, and v2 under /v2) that match every endpoint by method and exact path', () => {
    const routes = knative
      .filter((l) => l.obj.kind === 'HTTPRoute')
      .map(
        (l) =>
          l.obj as unknown as {
            spec: {
              rules: {
                matches: { method: string; path: { type: string; value: string } }[];
                backendRefs: { namespace?: string; name: string; port: number }[];
                filters: { urlRewrite: { hostname: string } }[];
              }[];
            };
          },
      );
    // Gateway API's limit: at most 16 rules in one HTTPRoute.
    for (const route of routes) expect(route.spec.rules.length).toBeLessThanOrEqual(16);
    const routed = routes
      .flatMap((route) => route.spec.rules)
      .map((r) => ({
        method: r.matches[0]!.method,
        path: r.matches[0]!.path.value,
        type: r.matches[0]!.path.type,
        backend: `${r.backendRefs[0]!.namespace}/${r.backendRefs[0]!.name}:${r.backendRefs[0]!.port}`,
        host: r.filters[0]!.urlRewrite.hostname,
      }));
    // Every rule goes to the ingress's local gateway (the function's own Service is an ExternalName to it), which
    // picks the function by the rewritten Host.
    const expected = mountedEndpoints().map((e) => ({
      method: e.method,
      path: e.path,
      type: 'Exact',
      backend: 'traefik/traefik-private:80',
      host: `c2d-${e.fn}.c2d-system.svc.cluster.local`,
    }));
    expect(routed).toEqual(expect.arrayContaining(expected));
    expect(routed).toHaveLength(expected.length);
  });

  it('may reach that local gateway in its namespace: a ReferenceGrant from their HTTPRoutes to its Service', () => {
    const grants = knative.filter((l) => l.obj.kind === 'ReferenceGrant');
    expect(grants.map((l) => l.file)).toEqual(['referencegrant.yaml']);
    expect(grants[0]!.obj).toMatchObject({
      spec: {
        from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'c2d-system' }],
        to: [{ group: '', kind: 'Service', name: 'traefik-private' }],
      },
    });
    // deploy.sh applies it in the local gateway's namespace.
    expect(grants[0]!.obj.metadata?.namespace).toBeUndefined();
  });
});

describe('engine Deployment', () => {
  it("caps V8's young generation as the local platform runs the engine", () => {
    const c = engine!.spec!.template.spec!.containers[0]!;
    expect(c.env?.find((e) => e.name === 'NODE_OPTIONS')?.value).toBe(ENGINE_NODE_OPTIONS);
    expect(ENGINE_NODE_OPTIONS).toMatch(/--max-semi-space-size=\d+/);
  });

  it('runs two replicas with Lease-based leader election and probes on its health port', () => {
    expect(engine).toBeDefined();
    expect(engine!.spec?.replicas).toBe(2);
    const spec = engine!.spec!.template.spec!;
    expect(spec.serviceAccountName).toBe('c2d-engine');
    const c = spec.containers[0]!;
    const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e]));
    expect(env.LEASE_NAME?.value).toBe('c2d-engine');
    expect(env.LEASE_NAMESPACE?.value).toBe('c2d-system');
    expect(env.ENVIRONMENTS_NAMESPACE?.value).toBe('c2d-system');
    expect(env.JOBS_NAMESPACE?.value).toBe('c2d-jobs');
    expect(env.POD_NAME?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
    const port = c.ports!.find((p) => p.name === 'metrics')!;
    expect(String(port.containerPort)).toBe(env.METRICS_PORT?.value);
    for (const probe of [c.livenessProbe, c.readinessProbe]) {
      expect(probe?.httpGet?.path).toBe('/healthz');
      expect(probe?.httpGet?.port).toBe('metrics');
    }
  });
});

describe('namespaces, environments, quotas', () => {
  it('enforce PodSecurity restricted on the jobs namespace', () => {
    const jobs = ofKind<KubernetesObject>(manifests, 'Namespace').find((n) => n.metadata?.name === 'c2d-jobs')!;
    expect(jobs.metadata?.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
  });

  it('ship compute environments the functions and engine accept', () => {
    const envs = parseEnvironments(JSON.parse(readFileSync(join(MANIFESTS, 'environments.json'), 'utf8')));
    expect(envs.length).toBeGreaterThan(0);
    const kustomization = readFileSync(join(MANIFESTS, 'kustomization.yaml'), 'utf8');
    expect(kustomization).toContain(`name: ${ENVIRONMENTS_CONFIGMAP}`);
    expect(kustomization).toContain(`- ${ENVIRONMENTS_KEY}`);
  });

  it('cap the jobs namespace with a ResourceQuota and a LimitRange', () => {
    const quota = ofKind<{ spec: { hard: Record<string, string> } }>(manifests, 'ResourceQuota').find(
      (q) => q.metadata?.namespace === 'c2d-jobs',
    );
    expect(quota?.spec.hard).toMatchObject({
      pods: expect.any(String),
      'limits.cpu': expect.any(String),
      'limits.memory': expect.any(String),
      'requests.storage': expect.any(String),
    });
    expect(ofKind(manifests, 'LimitRange').some((l) => l.metadata?.namespace === 'c2d-jobs')).toBe(true);
  });
});

describe('NetworkPolicies, against the pods the engine builds', () => {
  function selects(selector: V1LabelSelector, labels: Record<string, string>): boolean {
    for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
    for (const e of selector.matchExpressions ?? []) {
      const has = e.key in labels;
      if (e.operator === 'Exists' && !has) return false;
      if (e.operator === 'DoesNotExist' && has) return false;
      if (e.operator === 'In' && !(has && e.values!.includes(labels[e.key]!))) return false;
      if (e.operator === 'NotIn' && has && e.values!.includes(labels[e.key]!)) return false;
    }
    return true;
  }
  const jobPolicies = policies.filter((p) => p.metadata?.namespace === 'c2d-jobs');
  const egressPolicies = (pod: V1Pod) =>
    jobPolicies.filter(
      (p) => p.spec!.policyTypes!.includes('Egress') && selects(p.spec!.podSelector ?? {}, pod.metadata!.labels!),
    );
  const ref = (allowNetworkAccess: boolean) => ({
    name: 'c2d-job-x',
    uid: '00000000-0000-0000-0000-000000000000',
    namespace: 'c2d-jobs',
    workflow: parseWorkflow(workflow({ allowNetworkAccess })),
  });

  it('deny all ingress to every job pod', () => {
    for (const stage of STAGES) {
      const pod = buildStagePod(stage, ref(true), DEFAULT_POD_SPEC_SETTINGS);
      const ingress = jobPolicies.filter(
        (p) => p.spec!.policyTypes!.includes('Ingress') && selects(p.spec!.podSelector ?? {}, pod.metadata!.labels!),
      );
      expect(ingress.length, stage).toBeGreaterThan(0);
      expect(
        ingress.flatMap((p) => p.spec!.ingress ?? []),
        stage,
      ).toEqual([]);
    }
  });

  it('give an algorithm without network access no egress at all', () => {
    const pod = buildStagePod('algorithm', ref(false), DEFAULT_POD_SPEC_SETTINGS);
    expect(pod.metadata!.labels![LABELS.network]).toBeUndefined();
    const applying = egressPolicies(pod);
    expect(applying.map((p) => p.metadata!.name)).toEqual(['default-deny']);
    expect(applying.flatMap((p) => p.spec!.egress ?? [])).toEqual([]);
  });

  it('let configure, publish and a network-allowed algorithm out, each through its own policy', () => {
    const names = (stage: (typeof STAGES)[number], net: boolean) =>
      egressPolicies(buildStagePod(stage, ref(net), DEFAULT_POD_SPEC_SETTINGS))
        .map((p) => p.metadata!.name)
        .sort();
    expect(names('algorithm', true)).toEqual(['algorithm-network-egress', 'default-deny']);
    expect(names('configure', false)).toEqual(['configure-egress', 'default-deny']);
    expect(names('publish', false)).toEqual(['default-deny', 'publish-egress']);
    expect(buildStagePod('configure', ref(false), DEFAULT_POD_SPEC_SETTINGS).metadata!.labels![LABELS.network]).toBe(
      NETWORK_ALLOW,
    );
  });

  it('never allow the cloud metadata address, by IPv4 or IPv6', () => {
    const v4 = (ip: string) => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
    const inV4 = (ip: string, cidr: string) => {
      const [base, bits] = cidr.split('/');
      const size = 2 ** (32 - Number(bits));
      return Math.floor(v4(ip) / size) === Math.floor(v4(base!) / size);
    };
    let blocks = 0;
    for (const p of jobPolicies) {
      for (const rule of p.spec!.egress ?? []) {
        for (const peer of rule.to ?? []) {
          // Every peer is an address block or a namespace-scoped selector; none is "anywhere".
          expect(peer.ipBlock ?? peer.namespaceSelector, p.metadata!.name).toBeDefined();
          if (!peer.ipBlock) continue;
          blocks++;
          const { cidr, except = [] } = peer.ipBlock;
          if (cidr.includes(':')) {
            expect(except, p.metadata!.name).toContain('fc00::/7'); // holds fd00:ec2::254
            expect(except, p.metadata!.name).toContain('fe80::/10');
          } else if (inV4('169.254.169.254', cidr)) {
            expect(
              except.some((e) => inV4('169.254.169.254', e)),
              `${p.metadata!.name} ${cidr}`,
            ).toBe(true);
            for (const priv of ['10.0.0.1', '172.16.0.1', '192.168.0.1', '100.64.0.1']) {
              expect(
                except.some((e) => inV4(priv, e)),
                `${p.metadata!.name} ${priv}`,
              ).toBe(true);
            }
          }
        }
      }
    }
    expect(blocks).toBeGreaterThan(0);
  });
});

describe("admission policy on the functions' writes in the jobs namespace", () => {
  type Policy = {
    metadata: { name: string };
    spec: { variables: { name: string; expression: string }[]; matchConditions: { expression: string }[] };
  };
  type Binding = { spec: { policyName: string; matchResources: { namespaceSelector: V1LabelSelector } } };
  const policy = manifests.find(
    (l) => l.obj.kind === 'ValidatingAdmissionPolicy' && l.obj.metadata?.name === 'c2d-function-job-writes',
  )?.obj as unknown as Policy;
  const binding = manifests.find(
    (l) => l.obj.kind === 'ValidatingAdmissionPolicyBinding' && l.obj.metadata?.name === 'c2d-function-job-writes',
  )?.obj as unknown as Binding;
  const variable = (name: string) => policy.spec.variables.find((v) => v.name === name)!.expression;
  /** A CEL raw string literal (r'…') as the RE2 pattern it holds, which JavaScript reads alike for these patterns. */
  const pattern = (name: string): RegExp => new RegExp(/^r'(.*)'$/s.exec(variable(name).trim())![1]!);
  const withCode = (code: StatusCode): string =>
    serializeStatus({
      ...initialStatus(new Date('2026-03-04T05:06:07.089Z')),
      code,
      text: STATUS_TEXT[code],
      ...(isFinal(code) && { termination: { reason: 'finished' as const }, dateFinished: '2026-03-04T05:16:07.089Z' }),
    });

  it('applies to the function ServiceAccounts in the jobs namespace', () => {
    expect(binding.spec.matchResources.namespaceSelector.matchLabels).toEqual({
      'kubernetes.io/metadata.name': 'c2d-jobs',
    });
    expect(policy.spec.matchConditions[0]!.expression).toContain("'system:serviceaccount:c2d-system:c2d-fn-'");
    for (const fn of ['start', 'stop', 'delete']) {
      expect(FUNCTION_NAMES).toContain(fn);
      expect(variable(fn)).toBe(`'system:serviceaccount:c2d-system:c2d-fn-${fn}'`);
    }
    expect(variable('stopAnnotation')).toBe(`'${STOP_ANNOTATION}'`);
  });

  it('reads the initial status exactly as start serialises it, and nothing later', () => {
    const initial = pattern('initialStatusPattern');
    for (const at of ['2026-03-04T05:06:07.089Z', '1999-12-31T23:59:59.999Z']) {
      expect(serializeStatus(initialStatus(new Date(at)))).toMatch(initial);
    }
    for (const code of Object.values(StatusCode)) {
      if (code !== StatusCode.WarmingUp) expect(withCode(code)).not.toMatch(initial);
    }
    expect(serializeStatus({ ...initialStatus(new Date()), stopRequested: true })).not.toMatch(initial);
  });

  it('reads a final status exactly where the code is final', () => {
    const final = pattern('finalStatusPattern');
    for (const code of Object.values(StatusCode))
      expect(withCode(code), String(code)).toSatisfy((s: string) => final.test(s) === isFinal(code));
    expect(FINAL_CODES.size).toBe(9);
  });
});
