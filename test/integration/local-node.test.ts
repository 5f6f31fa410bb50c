import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { promisify } from 'node:util';
import { CoreV1Api, KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { NodeCgroups } from '../../devcluster/node/cgroups.ts';
import { waitFor } from '../../devcluster/processes.ts';
import { loadKubeConfig } from '../../lib/kube/client.ts';
import { simplePod, waitForPodGone, waitForPodPhase } from '../support/kube.ts';

const run = promisify(execFile);
const env = inject('platform');
const ns = env.namespaces.jobs;
let core: CoreV1Api;
let kc: KubeConfig;

const unique = (prefix: string): string => `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
/** The Node release the project brings (package.json's `node` dependency), e.g. `v24.21.0`. */
const projectNodeVersion = `v${(JSON.parse(readFileSync('package.json', 'utf8')) as { devDependencies: Record<string, string> }).devDependencies.node}`;

beforeAll(() => {
  kc = loadKubeConfig(env.kubeconfig);
  core = kc.makeApiClient(CoreV1Api);
});

describe('local node', () => {
  it('runs a shell pod to completion and serves its logs through the API server', async () => {
    const name = unique('hello');
    await core.createNamespacedPod({
      namespace: ns,
      body: simplePod(name, 'busybox:1.36', ['sh', '-c', 'echo line2; exit 3'], {}),
    });
    const pod = await waitForPodPhase(core, ns, name, ['Succeeded', 'Failed']);
    expect(pod.status?.phase).toBe('Failed');
    expect(pod.status?.containerStatuses?.[0]?.state?.terminated?.exitCode).toBe(3);
    const logs = await core.readNamespacedPodLog({ name, namespace: ns, container: 'main' });
    expect(logs).toContain('line2');
    const tail = await core.readNamespacedPodLog({ name, namespace: ns, container: 'main', tailLines: 1 });
    expect(tail.trim()).toBe('line2');
    const { stdout } = await run('kubectl', ['--kubeconfig', env.kubeconfig, '-n', ns, 'logs', name, '--tail=1']);
    expect(stdout.trim()).toBe('line2');
  });

  it('streams logs with follow while the container runs', async () => {
    const name = unique('follow');
    await core.createNamespacedPod({
      namespace: ns,
      body: simplePod(name, 'busybox:1.36', ['sh', '-c', 'for i in 1 2 3; do echo tick $i; sleep 0.3; done']),
    });
    await waitForPodPhase(core, ns, name, ['Running', 'Succeeded']);
    const { stdout } = await run('kubectl', ['--kubeconfig', env.kubeconfig, '-n', ns, 'logs', '-f', name], {
      timeout: 20_000,
    });
    expect(stdout.trim().split('\n')).toEqual(['tick 1', 'tick 2', 'tick 3']);
  });

  describe("runs Node pods on the project's Node, not the machine's", () => {
    const versionOf = async (name: string, pod: ReturnType<typeof simplePod>): Promise<string> => {
      await core.createNamespacedPod({ namespace: ns, body: pod });
      await waitForPodPhase(core, ns, name, ['Succeeded', 'Failed']);
      return core.readNamespacedPodLog({ name, namespace: ns });
    };

    it('node:* images, called by name and through the shell (as the algorithm wrapper does)', async () => {
      const direct = unique('nodever');
      expect((await versionOf(direct, simplePod(direct, 'node:24', ['node', '-p', 'process.version']))).trim()).toBe(
        projectNodeVersion,
      );
      const viaShell = unique('nodever-sh');
      expect(
        (
          await versionOf(viaShell, simplePod(viaShell, 'node:24', ['/bin/sh', '-c', 'node -p process.version']))
        ).trim(),
      ).toBe(projectNodeVersion);
    });

    it('the pod programs (configure, publish, await-isolation)', async () => {
      for (const program of ['configure', 'publish', 'await-isolation']) {
        const name = unique(`${program}-ver`);
        const pod = simplePod(name, 'c2d/pod-programs:dev', [program]);
        // Printed by the pod's Node before the program starts; the program then fails for want of a job, which is fine here.
        pod.spec!.containers[0]!.env = [
          { name: 'NODE_OPTIONS', value: '--import=data:text/javascript,console.log(process.version)' },
        ];
        expect((await versionOf(name, pod)).split('\n')[0]).toBe(projectNodeVersion);
      }
    });
  });

  describe('network', () => {
    let server: Server;
    let port: number;
    beforeAll(async () => {
      server = createServer((s) => {
        s.on('error', () => undefined);
        s.end('hi');
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      port = (server.address() as { port: number }).port;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    const connect = (): string[] => [
      'node',
      '-e',
      `require('net').connect(${'$(PORT)'},'127.0.0.1').on('connect',()=>{console.log('connected');process.exit(0)}).on('error',e=>{console.log('refused',e.code);process.exit(4)})`,
    ];

    it('is cut for pods not labelled to allow it', async () => {
      const name = unique('nonet');
      const pod = simplePod(name, 'node:24', connect());
      pod.spec!.containers[0]!.env = [{ name: 'PORT', value: String(port) }];
      await core.createNamespacedPod({ namespace: ns, body: pod });
      const done = await waitForPodPhase(core, ns, name, ['Succeeded', 'Failed']);
      expect(done.status?.containerStatuses?.[0]?.state?.terminated?.exitCode).toBe(4);
    });

    it('is there for pods labelled to allow it', async () => {
      const name = unique('net');
      const pod = simplePod(name, 'node:24', connect(), {}, { 'c2d.oceanprotocol.com/network': 'allow' });
      pod.spec!.containers[0]!.env = [{ name: 'PORT', value: String(port) }];
      await core.createNamespacedPod({ namespace: ns, body: pod });
      const done = await waitForPodPhase(core, ns, name, ['Succeeded', 'Failed']);
      expect(done.status?.phase).toBe('Succeeded');
      expect(await core.readNamespacedPodLog({ name, namespace: ns })).toContain('connected');
    });
  });

  it('kills a pod past its activeDeadlineSeconds and says so', async () => {
    const name = unique('deadline');
    await core.createNamespacedPod({
      namespace: ns,
      body: simplePod(name, 'busybox:1.36', ['sleep', '60'], { activeDeadlineSeconds: 2 }),
    });
    const pod = await waitForPodPhase(core, ns, name, ['Succeeded', 'Failed'], 20_000);
    expect(pod.status?.phase).toBe('Failed');
    expect(pod.status?.reason).toBe('DeadlineExceeded');
    expect(pod.status?.containerStatuses?.[0]?.state?.terminated?.reason).toBe('DeadlineExceeded');
  });

  it('kills the process of a running pod that is deleted', async () => {
    const name = unique('victim');
    await core.createNamespacedPod({ namespace: ns, body: simplePod(name, 'busybox:1.36', ['sleep', '300']) });
    const running = await waitForPodPhase(core, ns, name, ['Running']);
    const pid = Number(running.status?.containerStatuses?.[0]?.containerID?.replace('local://', ''));
    expect(pid).toBeGreaterThan(0);
    expect(() => process.kill(pid, 0)).not.toThrow();
    await core.deleteNamespacedPod({ name, namespace: ns });
    await waitForPodGone(core, ns, name);
    expect(() => process.kill(pid, 0)).toThrow();
  });

  describe('container limits', () => {
    const limited = (name: string, command: string[], limits: Record<string, string>) => {
      const pod = simplePod(name, 'node:24', command);
      pod.spec!.containers[0]!.resources = { limits, requests: limits };
      return pod;
    };
    // Skipped only where the machine offers no writable cgroup hierarchy; the node logs that limits are not enforced.
    const probe = NodeCgroups.detect(`probe-${process.pid}`);
    probe?.dispose();
    const enforced = probe !== undefined;

    it.runIf(enforced)('kills a container that outgrows its memory limit and reports OOMKilled', async () => {
      const name = unique('oom');
      const grow = 'const a=[];for(;;){a.push(Buffer.alloc(8<<20,1));}';
      await core.createNamespacedPod({
        namespace: ns,
        body: limited(name, ['node', '-e', grow], { memory: '96Mi', cpu: '1' }),
      });
      const pod = await waitForPodPhase(core, ns, name, ['Succeeded', 'Failed'], 60_000);
      expect(pod.status?.phase).toBe('Failed');
      const terminated = pod.status?.containerStatuses?.[0]?.state?.terminated;
      expect(terminated?.reason).toBe('OOMKilled');
      expect(terminated?.exitCode).toBe(137);
    });

    it.runIf(enforced)('holds a busy container to its CPU limit', async () => {
      const name = unique('cpu');
      // Spin for 3 s of wall time, then print the CPU time the process got.
      const spin =
        'const t=Date.now();while(Date.now()-t<3000){}const u=process.cpuUsage();console.log(JSON.stringify({cpuMs:(u.user+u.system)/1000}))';
      await core.createNamespacedPod({
        namespace: ns,
        body: limited(name, ['node', '-e', spin], { memory: '256Mi', cpu: '200m' }),
      });
      const pod = await waitForPodPhase(core, ns, name, ['Succeeded', 'Failed'], 60_000);
      expect(pod.status?.phase).toBe('Succeeded');
      const { cpuMs } = JSON.parse(
        (await core.readNamespacedPodLog({ name, namespace: ns, container: 'main' })).trim(),
      ) as { cpuMs: number };
      // 200m over about 3 s is about 600 ms of CPU; unthrottled it would be close to 3000 ms.
      expect(cpuMs).toBeLessThan(1200);
    });
  });

  it('fails a pod whose image has no local runtime, with the reason', async () => {
    const name = unique('noimage');
    await core.createNamespacedPod({ namespace: ns, body: simplePod(name, 'registry.example/unknown:1', ['run']) });
    const pod = await waitForPodPhase(core, ns, name, ['Failed']);
    expect(pod.status?.reason).toBe('UnsupportedImage');
    expect(pod.status?.message).toContain('registry.example/unknown:1');
  });

  it('shares a PVC directory between pods run one after the other', async () => {
    const claim = unique('data');
    await core.createNamespacedPersistentVolumeClaim({
      namespace: ns,
      body: {
        metadata: { name: claim },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '10Mi' } } },
      },
    });
    const withClaim = (name: string, script: string) =>
      simplePod(name, 'busybox:1.36', ['sh', '-c', script], {
        volumes: [{ name: 'data', persistentVolumeClaim: { claimName: claim } }],
      });
    const writer = unique('writer');
    const w = withClaim(writer, 'echo shared-$(MARK) > /data/file');
    w.spec!.containers[0]!.volumeMounts = [{ name: 'data', mountPath: '/data' }];
    w.spec!.containers[0]!.env = [{ name: 'MARK', value: 'ok' }];
    await core.createNamespacedPod({ namespace: ns, body: w });
    expect((await waitForPodPhase(core, ns, writer, ['Succeeded', 'Failed'])).status?.phase).toBe('Succeeded');
    const reader = unique('reader');
    const r = withClaim(reader, 'cat /data/file');
    r.spec!.containers[0]!.volumeMounts = [{ name: 'data', mountPath: '/data', readOnly: true }];
    await core.createNamespacedPod({ namespace: ns, body: r });
    expect((await waitForPodPhase(core, ns, reader, ['Succeeded', 'Failed'])).status?.phase).toBe('Succeeded');
    expect((await core.readNamespacedPodLog({ name: reader, namespace: ns })).trim()).toBe('shared-ok');
    const pvc = await core.readNamespacedPersistentVolumeClaim({ name: claim, namespace: ns });
    expect(pvc.status?.phase).toBe('Bound');
  });

  it('gives pods env and files from ConfigMaps and Secrets', async () => {
    const cm = unique('cm');
    const secret = unique('sec');
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: cm }, data: { greeting: 'hello' } },
    });
    await core.createNamespacedSecret({
      namespace: ns,
      body: { metadata: { name: secret }, stringData: { token: 's3cr3t' } },
    });
    const name = unique('env');
    const pod = simplePod(name, 'busybox:1.36', ['sh', '-c', 'echo "$GREETING $(cat /secret/token)"'], {
      volumes: [{ name: 'sec', secret: { secretName: secret } }],
    });
    pod.spec!.containers[0]!.env = [
      { name: 'GREETING', valueFrom: { configMapKeyRef: { name: cm, key: 'greeting' } } },
    ];
    pod.spec!.containers[0]!.volumeMounts = [{ name: 'sec', mountPath: '/secret', readOnly: true }];
    await core.createNamespacedPod({ namespace: ns, body: pod });
    expect((await waitForPodPhase(core, ns, name, ['Succeeded', 'Failed'])).status?.phase).toBe('Succeeded');
    expect((await core.readNamespacedPodLog({ name, namespace: ns })).trim()).toBe('hello s3cr3t');
  });
});

describe('control plane', () => {
  it('refuses a ServiceAccount what its narrow Role does not grant', async () => {
    const sa = unique('narrow');
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: sa } } });
    await rbac.createNamespacedRole({
      namespace: ns,
      body: { metadata: { name: sa }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['list'] }] },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: sa },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: sa },
        subjects: [{ kind: 'ServiceAccount', name: sa, namespace: ns }],
      },
    });
    const token = (
      await core.createNamespacedServiceAccountToken({
        name: sa,
        namespace: ns,
        body: { spec: { audiences: [], expirationSeconds: 600 } },
      })
    ).status!.token;
    const cluster = kc.getCurrentCluster()!;
    const narrow = new KubeConfig();
    narrow.loadFromOptions({
      clusters: [{ name: 'c', server: cluster.server, caData: cluster.caData }],
      users: [{ name: sa, token }],
      contexts: [{ name: 'c', cluster: 'c', user: sa }],
      currentContext: 'c',
    });
    const asSa = narrow.makeApiClient(CoreV1Api);
    await expect(asSa.listNamespacedConfigMap({ namespace: ns })).resolves.toBeDefined();
    await expect(asSa.listNamespacedPod({ namespace: ns })).rejects.toMatchObject({ code: 403 });
    await expect(asSa.listNamespacedSecret({ namespace: ns })).rejects.toMatchObject({ code: 403 });
    await expect(asSa.listNamespacedConfigMap({ namespace: env.namespaces.system })).rejects.toMatchObject({
      code: 403,
    });
  });

  it('rejects a pod that violates PodSecurity restricted in the jobs namespace', async () => {
    const pod = simplePod(unique('priv'), 'busybox:1.36', ['true']);
    pod.spec!.securityContext = {};
    pod.spec!.containers[0]!.securityContext = {};
    await expect(core.createNamespacedPod({ namespace: ns, body: pod })).rejects.toMatchObject({ code: 403 });
  });

  it('garbage-collects objects owned by a deleted ConfigMap', async () => {
    const owner = await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: unique('owner') } },
    });
    const ownedName = unique('owned');
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: {
        metadata: {
          name: ownedName,
          ownerReferences: [
            { apiVersion: 'v1', kind: 'ConfigMap', name: owner.metadata!.name!, uid: owner.metadata!.uid! },
          ],
        },
      },
    });
    await core.deleteNamespacedConfigMap({ name: owner.metadata!.name!, namespace: ns });
    await waitFor(
      'owned ConfigMap to be collected',
      async () => {
        try {
          await core.readNamespacedConfigMap({ name: ownedName, namespace: ns });
          return false;
        } catch (err) {
          return (err as { code?: number }).code === 404;
        }
      },
      30_000,
      200,
    );
  });
});
