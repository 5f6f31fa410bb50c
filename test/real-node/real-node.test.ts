/**
 * The platform's node (kubelet + containerd + runc, CNI bridge, kube-proxy, CoreDNS, kube-router), in a platform of
 * this file's own. It needs root and the node's binaries and images (`bash scripts/ensure-deps.sh`); without them the
 * platform's start fails with the reason.
 */
import { mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CoreV1Api, RbacAuthorizationV1Api, type V1Pod } from '@kubernetes/client-node';
import { Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NAMESPACES, NODE_NAME, startPlatform, type Platform } from '../../devcluster/platform.ts';
import { startProcess, waitFor, type ManagedProcess } from '../../devcluster/processes.ts';
import { loadKubeConfig } from '../../lib/kube/client.ts';
import { applyNetworkPolicies } from '../../devcluster/network-policies.ts';
import { startPublicFileServer, type PublicFileServer } from '../../devcluster/real-node/public-file-server.ts';
import { POD_PIDS_LIMIT } from '../../devcluster/real-node/kubelet.ts';
import { buildAlgorithmPod, DEFAULT_POD_SPEC_SETTINGS } from '../../engine/pod-specs.ts';
import { startLocalStack, type LocalStack } from '../../devcluster/local-stack.ts';
import type { S3Client } from '@aws-sdk/client-s3';
import type { JobConfigMap } from '../../lib/job/configmap.ts';
import { makeS3Client } from '../../lib/job/results-store.ts';
import { StatusCode } from '../../lib/job/status.ts';
import { createJob, readObject, waitForFinal } from '../support/engine-jobs.ts';
import {
  buildJob,
  nodeAlgorithm,
  pythonAlgorithm,
  sha256,
  workflow,
  type AlgorithmSpec,
  type BuiltJob,
  type JobSpec,
} from '../support/job-fixtures.ts';
import { simplePod, waitForPodPhase } from '../support/kube.ts';

const unique = (prefix: string): string => `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
const jobs = NAMESPACES.jobs;

let stateDir: string;
let platform: Platform;
let core: CoreV1Api;
const startup: string[] = [];

beforeAll(async () => {
  if (process.getuid?.() !== 0)
    throw new Error('the real node needs root (network and mount namespaces, cgroups, containerd)');
  stateDir = mkdtempSync(join(tmpdir(), 'c2d-real-'));
  platform = await startPlatform(stateDir, (m) => {
    startup.push(m);
    console.log(`[real-node platform] ${m}`);
  });
  core = loadKubeConfig(platform.env.kubeconfig).makeApiClient(CoreV1Api);
}, 900_000);

afterAll(async () => {
  await platform?.stop();
  if (stateDir && !process.env.C2D_KEEP_STATE) rmSync(stateDir, { recursive: true, force: true });
}, 120_000);

function terminated(pod: V1Pod): { exitCode?: number; reason?: string } {
  return pod.status?.containerStatuses?.[0]?.state?.terminated ?? {};
}

describe('real node', () => {
  it('is Ready, with containerd as its runtime and kubelet at the API server version', async () => {
    const node = await core.readNode({ name: NODE_NAME });
    expect(node.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(node.status?.nodeInfo?.containerRuntimeVersion).toMatch(/^containerd:\/\/1\./);
    expect(node.status?.nodeInfo?.kubeletVersion).toBe('v1.34.4');
    expect(node.spec?.taints ?? []).toEqual([]);
    expect(startup.some((m) => /^real node Ready \d+ ms after kubelet started$/.test(m))).toBe(true);
  });

  it('runs a restricted pod in the node image and serves its log through the API server', async () => {
    const name = unique('restricted');
    const script =
      "require('fs').writeFileSync('/work/out', 'written'); console.log('node ' + process.version + ' read ' + require('fs').readFileSync('/work/out', 'utf8')); try { require('fs').writeFileSync('/root-fs-probe', 'x'); } catch (e) { console.log('root fs: ' + e.code); }";
    const t0 = Date.now();
    const body = simplePod(name, 'docker.io/library/node:24', ['node', '-e', script], {
      securityContext: {
        runAsNonRoot: true,
        runAsUser: 1000,
        runAsGroup: 1000,
        fsGroup: 1000,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      volumes: [{ name: 'work', emptyDir: { sizeLimit: '16Mi' } }],
    });
    body.spec!.containers[0]!.volumeMounts = [{ name: 'work', mountPath: '/work' }];
    await core.createNamespacedPod({ namespace: jobs, body });
    const pod = await waitForPodPhase(core, jobs, name, ['Succeeded', 'Failed'], 120_000);
    console.log(`[real-node figures] restricted pod create → ${pod.status?.phase}: ${Date.now() - t0} ms`);
    expect(terminated(pod)).toMatchObject({ exitCode: 0 });
    const log = await core.readNamespacedPodLog({ name, namespace: jobs, container: 'main' });
    expect(log).toContain('node v24.21.0 read written');
    expect(log).toContain('root fs: EROFS');
  });

  it('reports a container over its memory limit as OOMKilled, exit code 137', async () => {
    const name = unique('oom');
    const pod = simplePod(name, 'docker.io/library/python:3', [
      'python',
      '-c',
      'b = bytearray(256 * 1024 * 1024); print(len(b))',
    ]);
    pod.spec!.containers[0]!.resources = {
      limits: { memory: '64Mi', cpu: '500m' },
      requests: { memory: '64Mi', cpu: '100m' },
    };
    await core.createNamespacedPod({ namespace: jobs, body: pod });
    const done = await waitForPodPhase(core, jobs, name, ['Succeeded', 'Failed'], 120_000);
    expect(terminated(done)).toMatchObject({ exitCode: 137, reason: 'OOMKilled' });
  });

  it('gives a claim a volume that a non-root pod can write', async () => {
    const claim = unique('claim');
    await core.createNamespacedPersistentVolumeClaim({
      namespace: jobs,
      body: {
        metadata: { name: claim },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '16Mi' } } },
      },
    });
    const name = unique('writer');
    const body = simplePod(
      name,
      'docker.io/library/python:3',
      ['python', '-c', "open('/data/out', 'w').write('kept'); print(open('/data/out').read())"],
      {
        volumes: [{ name: 'data', persistentVolumeClaim: { claimName: claim } }],
      },
    );
    body.spec!.containers[0]!.volumeMounts = [{ name: 'data', mountPath: '/data' }];
    await core.createNamespacedPod({ namespace: jobs, body });
    const pod = await waitForPodPhase(core, jobs, name, ['Succeeded', 'Failed'], 120_000);
    expect(terminated(pod)).toMatchObject({ exitCode: 0 });
    expect((await core.readNamespacedPersistentVolumeClaim({ name: claim, namespace: jobs })).status?.phase).toBe(
      'Bound',
    );
    expect(await core.readNamespacedPodLog({ name, namespace: jobs, container: 'main' })).toContain('kept');
  });

  describe("the project's own images (docker/*.Dockerfile, built by build-project-images.sh)", () => {
    it('runs the configure program of the pod-programs image, which fails cleanly without a workflow', async () => {
      const name = unique('configure');
      const body = simplePod(name, 'c2d/pod-programs:0.1.0', ['configure'], {
        volumes: [{ name: 'data', emptyDir: { sizeLimit: '16Mi' } }],
      });
      body.spec!.containers[0]!.volumeMounts = [{ name: 'data', mountPath: '/data' }];
      body.spec!.containers[0]!.env = [{ name: 'C2D_WORKFLOW_FILE', value: '/data/no-such-workflow.json' }];
      await core.createNamespacedPod({ namespace: jobs, body });
      const pod = await waitForPodPhase(core, jobs, name, ['Succeeded', 'Failed'], 120_000);
      const log = await core.readNamespacedPodLog({ name, namespace: jobs, container: 'main' });
      // 31: CONFIGURE_EXIT.dataFailed, what the engine reads as "a dataset failed".
      expect(terminated(pod), log).toMatchObject({ exitCode: 31 });
      expect(log).toContain('configure: provisioning the job volume');
      expect(log).toContain('data provisioning failed: job configuration unreadable');
    });

    it('starts the engine image: every module loads, then it names the setting it lacks', async () => {
      const name = unique('engine');
      const body = simplePod(name, 'c2d/engine:0.1.0', []);
      // The image's entrypoint (node dist/engine/main.js), with none of the Deployment's settings.
      delete (body.spec!.containers[0] as { command?: string[] }).command;
      await core.createNamespacedPod({ namespace: jobs, body });
      const pod = await waitForPodPhase(core, jobs, name, ['Succeeded', 'Failed'], 120_000);
      const log = await core.readNamespacedPodLog({ name, namespace: jobs, container: 'main' });
      expect(log).not.toMatch(/ERR_MODULE_NOT_FOUND|Cannot find (?:module|package)/);
      expect(log).toMatch(/S3_ENDPOINT is not set/);
      expect(terminated(pod).exitCode, log).not.toBe(0);
    });

    it('serves the info function from the functions image to another pod', async () => {
      const name = unique('info');
      const providerAddress = '0x00000000000000000000000000000000000000aa';
      const body = simplePod(name, 'c2d/functions:0.1.0', [], {
        volumes: [{ name: 'tmp', emptyDir: { sizeLimit: '16Mi' } }],
      });
      const container = body.spec!.containers[0]!;
      // The image's entrypoint (the functions framework) runs the function; no command of the pod's own.
      delete (container as { command?: string[] }).command;
      container.volumeMounts = [{ name: 'tmp', mountPath: '/tmp' }];
      container.env = [
        { name: 'FUNCTION_TARGET', value: 'info' },
        { name: 'FUNCTION_SOURCE', value: 'dist/functions/info/index.js' },
        { name: 'CHAIN_ID', value: '8996' },
        { name: 'PROVIDER_ADDRESS', value: providerAddress },
        // As knative/info.yaml's c2d-provider gives it: GET /v2 serves it as nodePublicKey.
        { name: 'PROVIDER_PUBLIC_KEY', value: Wallet.createRandom().signingKey.publicKey },
      ];
      container.ports = [{ containerPort: 8080 }];
      container.readinessProbe = { httpGet: { path: '/', port: 8080 }, periodSeconds: 1 };
      const t0 = Date.now();
      await core.createNamespacedPod({ namespace: 'default', body });
      let status: V1Pod['status'];
      await waitFor(
        () =>
          `pod default/${name} to be Ready (its container: ${JSON.stringify(status?.containerStatuses?.[0]?.state)})`,
        async () => {
          status = (await core.readNamespacedPod({ name, namespace: 'default' })).status;
          return status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
        },
        120_000,
        250,
      );
      console.log(`[real-node figures] functions pod create → Ready (kubelet's HTTP probe): ${Date.now() - t0} ms`);
      const client = unique('client');
      await core.createNamespacedPod({
        namespace: 'default',
        body: simplePod(client, 'docker.io/library/python:3', [
          'python',
          '-c',
          `import urllib.request; print(urllib.request.urlopen('http://${status!.podIP}:8080/', timeout=10).read().decode())`,
        ]),
      });
      const done = await waitForPodPhase(core, 'default', client, ['Succeeded', 'Failed'], 120_000);
      const log = await core.readNamespacedPodLog({ name: client, namespace: 'default', container: 'main' });
      expect(terminated(done), log).toMatchObject({ exitCode: 0 });
      expect(JSON.parse(log)).toMatchObject({ software: 'c2d-knative', chainId: 8996, providerAddress });
    });
  });

  it("gives a pod its ServiceAccount's token, the cluster CA and a route to the API server", async () => {
    const namespace = 'default';
    const account = unique('reader');
    const rbac = loadKubeConfig(platform.env.kubeconfig).makeApiClient(RbacAuthorizationV1Api);
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: account } } });
    await rbac.createNamespacedRole({
      namespace,
      body: {
        metadata: { name: account },
        rules: [{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['kube-root-ca.crt'], verbs: ['get'] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: account },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: account },
        subjects: [{ kind: 'ServiceAccount', name: account, namespace }],
      },
    });
    // As client libraries do in a pod: the mounted token and CA, the API server by its Service name.
    const script = `
import json, ssl, urllib.request, urllib.error
sa = '/var/run/secrets/kubernetes.io/serviceaccount'
token = open(sa + '/token').read()
ctx = ssl.create_default_context(cafile=sa + '/ca.crt')
def get(path):
    req = urllib.request.Request('https://kubernetes.default.svc' + path, headers={'Authorization': 'Bearer ' + token})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, None
status, cm = get('/api/v1/namespaces/default/configmaps/kube-root-ca.crt')
denied, _ = get('/api/v1/namespaces/default/secrets')
print(json.dumps({'status': status, 'name': cm and cm['metadata']['name'], 'ca': bool(cm and 'BEGIN CERTIFICATE' in cm['data']['ca.crt']), 'secrets': denied, 'namespace': open(sa + '/namespace').read()}))
`;
    const name = unique('api-client');
    const body = simplePod(name, 'docker.io/library/python:3', ['python', '-c', script], {
      serviceAccountName: account,
      automountServiceAccountToken: true,
    });
    await core.createNamespacedPod({ namespace, body });
    const pod = await waitForPodPhase(core, namespace, name, ['Succeeded', 'Failed'], 120_000);
    const log = await core.readNamespacedPodLog({ name, namespace, container: 'main' });
    expect(terminated(pod), log).toMatchObject({ exitCode: 0 });
    expect(JSON.parse(log.trim().split('\n').pop()!)).toEqual({
      status: 200,
      name: 'kube-root-ca.crt',
      ca: true,
      secrets: 403,
      namespace,
    });
  });

  describe('NetworkPolicy (manifests/network-policies.yaml)', () => {
    const publicAddress = '203.0.113.10';
    // The bridge's address, the pods' default gateway: the first of the node's pod range.
    const gateway = (): string => platform.realNode!.podCidr.replace(/\.0\/\d+$/, '.1');
    const servers: ManagedProcess[] = [];
    let targetPodIp: string;

    // A probe: after the policy has had time to reach the pod (kube-router needs a few seconds for a new pod; the
    // engine must close that race, see issue 12), try each target once.
    const probe = (targets: Record<string, [string, number]>): string[] => [
      'python',
      '-c',
      `
import json, socket, time
time.sleep(8)
out = {}
for name, (host, port) in ${JSON.stringify(targets)}.items():
    try:
        socket.create_connection((host, port), timeout=3).close()
        out[name] = True
    except OSError:
        out[name] = False
print(json.dumps(out, sort_keys=True))
`,
    ];

    /** An algorithm pod as the engine builds it (await-isolation first), running `entrypoint` in python:3. */
    const algorithmPod = (network: boolean, namespace: string, entrypoint: string): V1Pod => {
      const w = workflow({
        jobId: randomBytes(16).toString('hex'),
        allowNetworkAccess: network,
        algorithm: { kind: 'raw', source: 'rawcode', container: { image: 'python', tag: '3', entrypoint } },
      });
      const pod = buildAlgorithmPod(
        { name: `c2d-job-${w.jobId}`, uid: 'no-owner', namespace, workflow: w },
        DEFAULT_POD_SPEC_SETTINGS,
      );
      // No job ConfigMap owns it here (the garbage collector would delete it), and no configure pod filled a claim.
      delete pod.metadata!.ownerReferences;
      pod.spec!.volumes = pod.spec!.volumes!.map((v) => (v.name === 'data' ? { name: 'data', emptyDir: {} } : v));
      return pod;
    };
    const runAlgorithmPod = async (pod: V1Pod): Promise<{ log: string; pod: V1Pod }> => {
      const { name, namespace } = pod.metadata as { name: string; namespace: string };
      await core.createNamespacedPod({ namespace, body: pod });
      const done = await waitForPodPhase(core, namespace, name, ['Succeeded', 'Failed'], 120_000);
      const log = await core.readNamespacedPodLog({ name, namespace, container: 'algorithm' });
      expect(terminated(done), log).toMatchObject({ exitCode: 0 });
      return { log, pod: done };
    };

    beforeAll(async () => {
      const node = platform.realNode!.namespace;
      // A "public" address inside the node's namespace (TEST-NET-3, not in any range the policies except), and a
      // server on the node's own address: what an algorithm would call "the host".
      await node.exec(['ip', 'addr', 'add', `${publicAddress}/32`, 'dev', 'lo']);
      const serve = (name: string, listen: string): ManagedProcess => {
        const [cmd, ...args] = node.enter(['socat', listen, 'SYSTEM:echo ok']);
        return startProcess(name, cmd!, args, { logFile: join(stateDir, 'logs', `${name}.log`) });
      };
      servers.push(
        serve('public-server', `TCP-LISTEN:8080,bind=${publicAddress},fork,reuseaddr`),
        serve('host-server', `TCP-LISTEN:8080,bind=${node.nodeAddress},fork,reuseaddr`),
        // Every address of the node, the pods' gateway included.
        serve('gateway-server', 'TCP-LISTEN:8081,fork,reuseaddr'),
      );
      await applyNetworkPolicies(loadKubeConfig(platform.env.kubeconfig));
      const target = unique('target');
      await core.createNamespacedPod({
        namespace: 'default',
        body: simplePod(target, 'docker.io/library/python:3', ['python', '-m', 'http.server', '8080']),
      });
      const running = await waitForPodPhase(core, 'default', target, ['Running'], 120_000);
      targetPodIp = running.status!.podIP!;
    }, 300_000);

    afterAll(async () => {
      for (const s of servers) await s.stop();
    });

    it('keeps an algorithm pod off the network, lets one with permission reach only public addresses', async () => {
      const node = platform.realNode!.namespace;
      const targets: Record<string, [string, number]> = {
        public: [publicAddress, 8080],
        host: [node.nodeAddress, 8080],
        pod: [targetPodIp, 8080],
      };
      const run = async (namespace: string, labels: Record<string, string>): Promise<Record<string, boolean>> => {
        const name = unique('probe');
        await core.createNamespacedPod({
          namespace,
          body: simplePod(name, 'docker.io/library/python:3', probe(targets), {}, labels),
        });
        const pod = await waitForPodPhase(core, namespace, name, ['Succeeded', 'Failed'], 120_000);
        const log = await core.readNamespacedPodLog({ name, namespace, container: 'main' });
        expect(terminated(pod), log).toMatchObject({ exitCode: 0 });
        return JSON.parse(log.trim().split('\n').pop()!) as Record<string, boolean>;
      };
      const [denied, allowed, unpoliced] = await Promise.all([
        run(jobs, { 'c2d.oceanprotocol.com/role': 'algorithm' }),
        run(jobs, { 'c2d.oceanprotocol.com/role': 'algorithm', 'c2d.oceanprotocol.com/network': 'allow' }),
        // The same probe where no policy applies: every target answers, so a refusal above is the policy's.
        run('default', {}),
      ]);
      expect(unpoliced).toEqual({ host: true, pod: true, public: true });
      expect(denied).toEqual({ host: false, pod: false, public: false });
      expect(allowed).toEqual({ host: false, pod: false, public: true });
    });

    it('starts an algorithm only once its policy is in force: probing from its first millisecond, it reaches nothing', async () => {
      const node = platform.realNode!.namespace;
      const targets: Record<string, [string, number]> = {
        apiServer: ['10.96.0.1', 443],
        dns: ['10.96.0.10', 53],
        gateway: [gateway(), 8081],
        host: [node.nodeAddress, 8080],
        kubelet: [node.nodeAddress, 10250],
        pod: [targetPodIp, 8080],
        public: [publicAddress, 8080],
      };
      // Every target, in parallel, again and again for the first 3 s of the algorithm: the window in which
      // kube-router had not yet applied a new pod's rules.
      const entrypoint = `python -c '
import json, socket, threading, time
T = ${JSON.stringify(targets)}
seen = dict((k, False) for k in T)
def probe(k, host, port):
    try:
        socket.create_connection((host, port), timeout=0.5).close()
        seen[k] = True
    except OSError:
        pass
t0 = time.monotonic()
while time.monotonic() - t0 < 3:
    threads = [threading.Thread(target=probe, args=(k, h, p)) for k, (h, p) in T.items()]
    [t.start() for t in threads]
    [t.join() for t in threads]
print(json.dumps(seen, sort_keys=True))'`;
      const run = async (pod: V1Pod): Promise<{ seen: Record<string, boolean>; pod: V1Pod }> => {
        const { log, pod: done } = await runAlgorithmPod(pod);
        return { seen: JSON.parse(log.trim().split('\n').pop()!) as Record<string, boolean>, pod: done };
      };
      const unguardedPod = (namespace: string): V1Pod => {
        const pod = algorithmPod(false, namespace, entrypoint);
        delete pod.spec!.initContainers;
        return pod;
      };
      const [denied, allowed, unpoliced, unguarded] = await Promise.all([
        run(algorithmPod(false, jobs, entrypoint)),
        run(algorithmPod(true, jobs, entrypoint)),
        // Where no policy applies (and so no isolation could ever come), every target answers: a refusal above is
        // the policy's.
        run(unguardedPod('default')),
        // The same algorithm pod without its init container: the race the init container closes. Reported, not
        // asserted: whether it slips through depends on when kube-router's sync runs (it reached every target in 4
        // of 5 runs here, nothing in the other: with four pods starting at once, a sync for another one may come
        // after this pod has its address and before its container starts).
        run(unguardedPod(jobs)),
      ]);
      const all = (v: boolean) => Object.fromEntries(Object.keys(targets).map((k) => [k, v]));
      expect(unpoliced.seen).toEqual(all(true));
      expect(denied.seen).toEqual(all(false));
      // With network: public addresses and the cluster DNS (pods labelled k8s-app: kube-dns), nothing else.
      expect(allowed.seen).toEqual({ ...all(false), public: true, dns: true });
      const slipped = Object.keys(unguarded.seen).filter((k) => unguarded.seen[k]);
      console.log(
        `[real-node figures] without the init container the algorithm reached ${JSON.stringify(slipped)} in its first 3 s`,
      );
      for (const { pod } of [denied, allowed]) {
        const init = await core.readNamespacedPodLog({
          name: pod.metadata!.name!,
          namespace: jobs,
          container: 'await-isolation',
        });
        console.log(`[real-node figures] ${init.trim().split('\n').pop()}`);
        expect(init).toMatch(/network policy in force after \d+ ms/);
      }
    });

    it('gives an algorithm with network permission the cluster DNS (CoreDNS as a pod), one without none of it', async () => {
      const service = unique('web');
      const created = await core.createNamespacedService({
        namespace: 'default',
        body: { metadata: { name: service }, spec: { selector: { app: service }, ports: [{ port: 8080 }] } },
      });
      const names = {
        api: 'kubernetes.default.svc.cluster.local',
        dns: 'kube-dns.kube-system.svc.cluster.local',
        service: `${service}.default.svc.cluster.local`,
        missing: 'no-such-service.default.svc.cluster.local',
      };
      // A query of its own to the resolv.conf nameserver, UDP then TCP, 3 s each: the libc resolver's retries over
      // every search domain would take half a minute to give up. With network, also the libc resolver on a short
      // name, through kubelet's search path.
      const script = `python -c '
import json, random, socket, struct
NAMES = ${JSON.stringify(names)}
server = [l.split()[1] for l in open("/etc/resolv.conf") if l.startswith("nameserver")][0]
def question(name):
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\\0"
    return struct.pack(">HHHHHH", random.randrange(65536), 0x0100, 1, 0, 0, 0) + qname + struct.pack(">HH", 1, 1)
def skip_name(r, i):
    while r[i]:
        if r[i] & 0xC0 == 0xC0:
            return i + 2
        i += r[i] + 1
    return i + 1
def answer(r):
    count = struct.unpack(">H", r[6:8])[0]
    i, a = skip_name(r, 12) + 4, []
    for _ in range(count):
        i = skip_name(r, i)
        rtype, _, _, size = struct.unpack(">HHIH", r[i:i + 10])
        if rtype == 1:
            a.append(socket.inet_ntoa(r[i + 10:i + 14]))
        i += 10 + size
    return {"rcode": r[3] & 0xF, "a": a}
def udp(name):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    try:
        s.sendto(question(name), (server, 53))
        return answer(s.recv(4096))
    except OSError:
        return None
def tcp(name):
    try:
        s = socket.create_connection((server, 53), timeout=3)
        s.settimeout(3)
        q = question(name)
        s.sendall(struct.pack(">H", len(q)) + q)
        r = b""
        while len(r) < 2 or len(r) < 2 + struct.unpack(">H", r[:2])[0]:
            chunk = s.recv(4096)
            if not chunk:
                return None
            r += chunk
        return answer(r[2:])
    except OSError:
        return None
out = {"server": server, "udp": dict((k, udp(n)) for k, n in NAMES.items()), "tcp": tcp(NAMES["api"])}
if out["udp"]["api"]:
    out["libc"] = socket.gethostbyname("kubernetes.default")
print(json.dumps(out, sort_keys=True))'`;
      const [allowed, denied] = await Promise.all([
        runAlgorithmPod(algorithmPod(true, jobs, script)),
        runAlgorithmPod(algorithmPod(false, jobs, script)),
      ]);
      const result = ({ log }: { log: string }) => JSON.parse(log.trim().split('\n').pop()!) as Record<string, unknown>;
      const a = (ip: string) => ({ rcode: 0, a: [ip] });
      expect(result(allowed), allowed.log).toEqual({
        server: '10.96.0.10',
        udp: {
          api: a('10.96.0.1'),
          dns: a('10.96.0.10'),
          service: a(created.spec!.clusterIP!),
          missing: { rcode: 3, a: [] },
        },
        tcp: a('10.96.0.1'),
        libc: '10.96.0.1',
      });
      expect(result(denied), denied.log).toEqual({
        server: '10.96.0.10',
        udp: { api: null, dns: null, service: null, missing: null },
        tcp: null,
      });
    });
  });

  describe('jobs run by the engine', () => {
    // The dataset on a public address of the node's namespace, port 80: what the configure pods' policy allows.
    const fileAddress = '203.0.113.20';
    const dataset = 'alpha,beta\n1,2\n3,4\n';
    let fileServer: PublicFileServer | undefined;
    let stack: LocalStack;
    let s3: S3Client;

    beforeAll(async () => {
      fileServer = await startPublicFileServer(platform.realNode!.namespace, stateDir, fileAddress, {
        'data.csv': dataset,
      });
      stack = await startLocalStack(platform.env, { engine: true });
      s3 = makeS3Client(platform.env.s3);
    }, 300_000);

    afterAll(async () => {
      s3?.destroy();
      await stack?.stop();
      await fileServer?.stop();
    });

    const withDataset = (algorithm: AlgorithmSpec, extra: Partial<JobSpec> = {}): BuiltJob =>
      buildJob({
        environment: stack.environmentId,
        datasets: [{ files: [{ url: `http://${fileAddress}/data.csv`, checksum: sha256(dataset) }] }],
        algorithm,
        ...extra,
      });

    /** Runs the job to its final status, reporting its figures under `what`. */
    const runJob = async (what: string, job: BuiltJob): Promise<JobConfigMap> => {
      const t0 = Date.now();
      await createJob(core, jobs, job);
      const done = await waitForFinal(core, jobs, job.workflow.jobId, 300_000);
      const stages = done.status.stages;
      const ms = (s?: { startedAt?: string; finishedAt?: string }) =>
        s?.startedAt && s.finishedAt ? Date.parse(s.finishedAt) - Date.parse(s.startedAt) : NaN;
      console.log(
        `[real-node figures] ${what}: create → ${done.status.code}: ${Date.now() - t0} ms (configure ${ms(stages.configure)}, algorithm ${ms(stages.algorithm)}, publish ${ms(stages.publish)} ms)`,
      );
      return done;
    };
    const result = (job: JobConfigMap, type: string, filename?: string): Promise<string> => {
      const r = job.status.results.find((x) => x.type === type && (filename === undefined || x.filename === filename));
      expect(r, JSON.stringify(job.status.results)).toBeDefined();
      return readObject(s3, platform.env.s3.bucket, r!.key);
    };

    it('runs a whole job: configure downloads, the algorithm runs in node:24, publish stores the results', async () => {
      // By name, through the cluster DNS: what the publish pods' policy allows.
      expect(platform.env.podS3Endpoint).toBe('http://object-store.c2d-results-store.svc.cluster.local:9000');
      const done = await runJob(
        'whole job (node:24)',
        withDataset(
          nodeAlgorithm(`
          const fs = require('fs');
          const input = fs.readFileSync(process.env.INPUTS + '/' + JSON.parse(process.env.DIDS)[0] + '/0', 'utf8');
          fs.writeFileSync(process.env.OUTPUTS + '/result.json', JSON.stringify({ lines: input.trim().split('\\n').length, node: process.version }));
          console.log('algorithm done');
        `),
        ),
      );
      expect(done.status.code, JSON.stringify(done.status)).toBe(StatusCode.JobFinished);
      expect(JSON.parse(await result(done, 'output', 'result.json'))).toEqual({ lines: 3, node: 'v24.21.0' });
      expect(await result(done, 'algorithmLog')).toContain('algorithm done');
    });

    it('runs a Python algorithm in the python:3 image: the job ends 70 with its output', async () => {
      const done = await runJob(
        'whole job (python:3)',
        withDataset(
          pythonAlgorithm(`
import json, os, platform
did = json.loads(os.environ['DIDS'])[0]
rows = open(os.path.join(os.environ['INPUTS'], did, '0')).read().strip().split('\\n')
with open(os.path.join(os.environ['OUTPUTS'], 'result.json'), 'w') as f:
    json.dump({'rows': len(rows), 'header': rows[0], 'python': platform.python_version()}, f)
print('python algorithm done')
`),
        ),
      );
      expect(done.status.code, JSON.stringify(done.status)).toBe(StatusCode.JobFinished);
      const output = JSON.parse(await result(done, 'output', 'result.json')) as Record<string, unknown>;
      expect(output).toMatchObject({ rows: 3, header: 'alpha,beta' });
      expect(output.python).toMatch(/^3\.\d+\.\d+$/);
      expect(await result(done, 'algorithmLog')).toContain('python algorithm done');
    });

    it("ends an algorithm that forks without end at the pod's pids limit, then at its time limit (72); the node keeps running", async () => {
      const done = await runJob(
        'fork bomb',
        withDataset(
          // Each child becomes a sleep (little memory, so that the pids limit, not the memory limit, is what holds);
          // the parent forks until refused, says so, and never ends, as a fork bomb would not.
          pythonAlgorithm(`
import os, time
children = 0
try:
    while True:
        if os.fork() == 0:
            try:
                os.execv('/bin/sleep', ['sleep', '3600'])
            finally:
                os._exit(1)
        children += 1
except OSError as e:
    print('fork refused after %d children: %s' % (children, e.strerror), flush=True)
time.sleep(3600)
`),
          { maxDurationSeconds: 20 },
        ),
      );
      expect(done.status.code, JSON.stringify(done.status)).toBe(StatusCode.JobTimedOut);
      const log = await result(done, 'algorithmLog');
      const refused = /fork refused after (\d+) children: Resource temporarily unavailable/.exec(log);
      expect(refused, log).not.toBeNull();
      console.log(`[real-node figures] ${refused![0]} (the pod's limit: ${POD_PIDS_LIMIT})`);
      // The pod's own processes (pause, the wrapper shell, tee, python) count against the same limit.
      expect(Number(refused![1])).toBeLessThan(POD_PIDS_LIMIT);
      expect(Number(refused![1])).toBeGreaterThan(POD_PIDS_LIMIT - 32);
      const node = await core.readNode({ name: NODE_NAME });
      expect(node.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
      expect(platform.realNode!.processes.filter((p) => p.child.exitCode !== null).map((p) => p.name)).toEqual([]);
    });

    it('evicts an algorithm that writes past its /tmp sizeLimit: the job ends 42 Disk quota exceeded', async () => {
      const done = await runJob(
        'emptyDir over its sizeLimit',
        withDataset(
          pythonAlgorithm(`
import time
with open('/tmp/fill', 'wb') as f:
    for _ in range(96):
        f.write(b'x' * (1 << 20))
print('wrote 96 MiB to /tmp', flush=True)
time.sleep(3600)
`),
          { maxDurationSeconds: 120 },
        ),
      );
      expect(done.status.code, JSON.stringify(done.status)).toBe(StatusCode.DiskQuotaExceeded);
      expect(done.status.stages.algorithm, JSON.stringify(done.status)).toMatchObject({
        reason: 'Evicted',
        message: expect.stringMatching(/EmptyDir volume "tmp" exceeds the limit "64Mi"/),
      });
      expect(await result(done, 'algorithmLog')).toContain('wrote 96 MiB to /tmp');
    });
  });

  it('reports what each part of the node holds in memory', () => {
    const node = platform.realNode!;
    const nodeNs = readlinkSync(`/proc/${node.namespace.holderPid}/ns/net`);
    const rss = (pid: number | string): number => {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      return m ? Math.round(Number(m[1]) / 1024) : 0;
    };
    const figures: Record<string, number> = {};
    for (const p of [...node.processes, ...platform.realNodes!.processes])
      if (p.child.pid && p.child.exitCode === null) figures[p.name] = rss(p.child.pid);
    const shims = readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .filter((p) => {
        try {
          return (
            readlinkSync(`/proc/${p}/ns/net`) === nodeNs &&
            readFileSync(`/proc/${p}/comm`, 'utf8').startsWith('containerd-shim')
          );
        } catch {
          return false;
        }
      });
    figures['containerd-shim (each)'] = shims.length
      ? Math.round(shims.reduce((a, p) => a + rss(p), 0) / shims.length)
      : 0;
    // CoreDNS runs as a pod: its process is in a control group below kubelet's.
    const coredns = readdirSync('/proc').filter((p) => {
      try {
        return (
          readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'coredns' &&
          readFileSync(`/proc/${p}/cgroup`, 'utf8').includes(`/${node.cgroupRoot}/`)
        );
      } catch {
        return false;
      }
    });
    figures['coredns (pod)'] = coredns.length ? rss(coredns[0]!) : 0;
    console.log(
      `[real-node figures] RSS MiB ${JSON.stringify(figures)}; startup: ${startup.filter((m) => / ms\b/.test(m)).join('; ')}`,
    );
    for (const part of ['kubelet', 'containerd', 'kube-proxy', 'coredns (pod)', 'kube-router', 'kube-scheduler'])
      expect(figures[part]).toBeGreaterThan(0);
  });
});
