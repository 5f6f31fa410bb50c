/**
 * The local node: registers a Node, binds unscheduled pods and pending claims to itself, runs each pod's
 * containers as bwrap sandboxes, reports their status and serves their logs to the API server like a kubelet.
 * Configuration (env): KUBECONFIG (the node's identity), NODE_NAME, NODE_ROOT, KUBELET_PORT, NODE_CERT,
 * NODE_KEY, CLUSTER_CA, PROJECT_ROOT, BINDER_KUBECONFIG (the identity allowed to bind pods and claims), NODE_CGROUP
 * (the parent control group of this node's containers).
 */
import { readFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  CoreV1Api,
  ListWatch,
  VersionApi,
  Watch,
  type KubeConfig,
  type KubernetesObject,
  type ListPromise,
  type V1PersistentVolumeClaim,
  type V1Pod,
} from '@kubernetes/client-node';
import { loadKubeConfig } from '../../lib/kube/client.ts';
import { Binder } from './binder.ts';
import { NodeCgroups } from './cgroups.ts';
import { ContainerLogRegistry } from './container-logs.ts';
import { startLogServer } from './log-server.ts';
import { projectNodeBinary } from './node-binary.ts';
import { registerNode } from './node-status.ts';
import { buildPodPrograms } from './pod-programs.ts';
import { PodRunner } from './pod-runner.ts';
import type { VolumeSources } from './volumes.ts';

function required(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
}

const log = (msg: string, fields: Record<string, unknown> = {}): void => {
  process.stdout.write(
    JSON.stringify({ time: new Date().toISOString(), component: 'local-node', msg, ...fields }) + '\n',
  );
};

/** An informer that restarts its watch whenever it ends or fails. */
function watch<T extends KubernetesObject>(
  kc: KubeConfig,
  path: string,
  list: () => Promise<{ items: T[] }>,
  fieldSelector: string | undefined,
  on: { upsert: (o: T) => void; remove?: (o: T) => void },
): Promise<void> {
  const informer = new ListWatch<T>(path, new Watch(kc), list as ListPromise<T>, false, undefined, fieldSelector);
  informer.on('add', on.upsert);
  informer.on('update', on.upsert);
  if (on.remove) informer.on('delete', on.remove);
  // A failed list emits 'error', but a watch request that cannot be opened only rejects start(): both restart it, or
  // the node would stop seeing pods for good (a pod then waits forever for its first status).
  const restart = (err: unknown): void => {
    log('watch ended, restarting', { path, error: String(err) });
    setTimeout(() => void informer.start().catch(restart), 500);
  };
  informer.on('error', restart);
  return informer.start();
}

async function main(): Promise<void> {
  const nodeName = required('NODE_NAME');
  const nodeRoot = required('NODE_ROOT');
  const kubeletPort = Number(required('KUBELET_PORT'));
  const projectRoot = required('PROJECT_ROOT');
  const nodeBinary = projectNodeBinary(projectRoot);
  mkdirSync(nodeRoot, { recursive: true });

  const kc = loadKubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const binderKc = loadKubeConfig(required('BINDER_KUBECONFIG'));
  const binderCore = binderKc.makeApiClient(CoreV1Api);

  const logs = new ContainerLogRegistry(join(nodeRoot, 'logs'));
  await startLogServer({
    port: kubeletPort,
    cert: readFileSync(required('NODE_CERT')),
    key: readFileSync(required('NODE_KEY')),
    ca: readFileSync(required('CLUSTER_CA')),
    logs,
  });
  const version = await kc
    .makeApiClient(VersionApi)
    .getCode()
    .then((v) => v.gitVersion)
    .catch(() => 'unknown');
  const refreshStatus = await registerNode(core, nodeName, kubeletPort, version);
  const heartbeat = setInterval(
    () => void refreshStatus().catch((err) => log('node status update failed', { error: String(err) })),
    20_000,
  );

  const decode = (data: Record<string, string> | undefined, base64: boolean): Record<string, string> =>
    Object.fromEntries(
      Object.entries(data ?? {}).map(([k, v]) => [k, base64 ? Buffer.from(v, 'base64').toString('utf8') : v]),
    );
  const volumeSources: VolumeSources = {
    async readData(kind, namespace, name) {
      try {
        if (kind === 'secret') return decode((await core.readNamespacedSecret({ name, namespace })).data, true);
        const cm = await core.readNamespacedConfigMap({ name, namespace });
        return { ...decode(cm.data, false), ...decode(cm.binaryData, true) };
      } catch (err) {
        if ((err as { code?: number }).code === 404) return undefined;
        throw err;
      }
    },
    async pvcUid(namespace, claimName) {
      try {
        return (await core.readNamespacedPersistentVolumeClaim({ name: claimName, namespace })).metadata?.uid;
      } catch (err) {
        if ((err as { code?: number }).code === 404) return undefined;
        throw err;
      }
    },
    async serviceAccountToken(pod, audience, expirationSeconds) {
      const res = await core.createNamespacedServiceAccountToken({
        name: pod.spec?.serviceAccountName ?? 'default',
        namespace: pod.metadata!.namespace!,
        body: {
          spec: {
            audiences: audience ? [audience] : [],
            expirationSeconds,
            boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata!.name!, uid: pod.metadata!.uid! },
          },
        },
      });
      const token = res.status?.token;
      if (!token)
        throw new Error(
          `TokenRequest for ServiceAccount ${pod.spec?.serviceAccountName ?? 'default'} answered without a token`,
        );
      return token;
    },
  };

  const buildStarted = Date.now();
  await buildPodPrograms(projectRoot);
  log('pod programs compiled', { ms: Date.now() - buildStarted, node: nodeBinary });
  const cgroups = NodeCgroups.detect(process.env.NODE_CGROUP ?? `c2d-node-${nodeName}`);
  if (cgroups) log('container limits enforced', { by: cgroups.description });
  else log('container limits NOT enforced: no writable cgroup hierarchy with memory and cpu controllers');
  const runner = new PodRunner({
    core,
    nodeName,
    nodeRoot,
    host: { projectRoot, nodeBinary },
    logs,
    volumeSources,
    log,
    ...(cgroups && { cgroups }),
  });
  const binder = new Binder(binderCore, nodeName, nodeRoot, log);

  await watch<V1Pod>(
    kc,
    '/api/v1/pods',
    () => core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${nodeName}` }),
    `spec.nodeName=${nodeName}`,
    { upsert: (p) => runner.observe(p), remove: (p) => runner.forget(p) },
  );
  await watch<V1Pod>(
    binderKc,
    '/api/v1/pods',
    () => binderCore.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=' }),
    'spec.nodeName=',
    { upsert: (p) => void binder.bindPod(p) },
  );
  await watch<V1PersistentVolumeClaim>(
    binderKc,
    '/api/v1/persistentvolumeclaims',
    () => binderCore.listPersistentVolumeClaimForAllNamespaces(),
    undefined,
    { upsert: (c) => void binder.bindClaim(c), remove: (c) => binder.releaseClaim(c) },
  );
  log('local node ready', { nodeName, kubeletPort });

  const shutdown = (): void => {
    clearInterval(heartbeat);
    runner.stopAll();
    setTimeout(() => {
      cgroups?.dispose();
      process.exit(0);
    }, 200);
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

main().catch((err) => {
  log('local node failed', { error: String(err?.stack ?? err) });
  process.exit(1);
});
