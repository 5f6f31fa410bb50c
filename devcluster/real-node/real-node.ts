import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { missingBinaries, nodeBinaryPaths } from '../binaries.ts';
import { issueCertificate, type ClusterCerts } from '../certs.ts';
import { writeKubeconfig } from '../kubeconfig.ts';
import { waitFor, type ManagedProcess } from '../processes.ts';
import { NODE_API_SERVER, startApiRelay, startStoreRelay } from './api-relay.ts';
import { createNodeCgroups, removeNodeCgroups } from './cgroups.ts';
import { startClusterEgress } from './cluster-egress.ts';
import { grantNodeServices, KUBE_ROUTER_USER, publishApiServerEndpoint } from './cluster-objects.ts';
import { startContainerd } from './containerd.ts';
import { ensureImageArchives, pauseImage, seedImages } from './images.ts';
import { startKubelet } from './kubelet.ts';
import { startKubeProxy, startKubeRouter } from './network-services.ts';
import { recordInstance, sweepStaleInstances } from './instances.ts';
import { createNodeNamespace, type NodeNamespace } from './node-namespace.ts';
import { startScheduler } from './scheduler.ts';
import { applyStorageClass, startVolumeProvisioner, VOLUME_PROVISIONER_USER } from './volume-provisioner.ts';
import { loadKubeConfig } from '../../lib/kube/client.ts';

export interface RealNode {
  namespace: NodeNamespace;
  processes: ManagedProcess[];
  /** kubelet's cgroupRoot: every pod's group is below it. */
  cgroupRoot: string;
  /** When kubelet was started (ms since the epoch), to time the node's readiness. */
  kubeletStartedAt: number;
  stop(): Promise<void>;
}

export interface RealNodeOptions {
  nodeName: string;
  stateDir: string;
  logDir: string;
  certs: ClusterCerts;
  /** The API server's address on the host (https://127.0.0.1:PORT). */
  server: string;
  /** The object store's port on the host's 127.0.0.1, relayed to the node's address (see results-store.ts). */
  storePort: number;
  admin: KubeConfig;
  /** The unix socket the API server's egress selector sends cluster connections to (see cluster-egress.ts). */
  egressSocket: string;
  /** Image archives to load beside the node's own (name → docker-archive). */
  extraImages?: Record<string, string>;
  report: (m: string) => void;
}

/**
 * A real Kubernetes node: containerd + runc, kubelet, kube-proxy and kube-router in a network and mount namespace of
 * their own (see node-namespace.ts), and kube-scheduler beside the control plane. Cluster DNS runs on it as a pod
 * (cluster-dns.ts) once it is Ready. Stopping it removes
 * every process, mount, link, table and control group it made.
 */
export async function startRealNode(o: RealNodeOptions): Promise<RealNode> {
  const bins = nodeBinaryPaths();
  const missing = missingBinaries(bins);
  if (missing.length)
    throw new Error(`real node binaries not built: ${missing.join(', ')} (run devcluster/build-binaries.sh real-node)`);
  const archives = { ...ensureImageArchives(o.report), ...o.extraImages };
  const dir = join(o.stateDir, 'node');
  mkdirSync(dir, { recursive: true });
  const id = randomBytes(5).toString('hex');
  const cgroupRoot = `c2d-kubelet-${id}`;
  const processes: ManagedProcess[] = [];
  let ns: NodeNamespace | undefined;
  let provisioner: { stop(): void } | undefined;
  let forget: (() => void) | undefined;
  const stop = async (): Promise<void> => {
    provisioner?.stop();
    for (const p of [...processes].reverse()) await p.stop();
    // Containers live in pod network namespaces under kubelet's group, shims in the node's namespace.
    await removeNodeCgroups(cgroupRoot);
    await ns?.stop();
    forget?.();
  };
  await sweepStaleInstances(o.report);
  try {
    ns = await createNodeNamespace(dir, id);
    forget = recordInstance({
      id,
      holderPid: ns.holderPid,
      stateDir: o.stateDir,
      hostLink: ns.hostLink,
      cgroupRoot,
    });
    createNodeCgroups(cgroupRoot);
    const pki = o.certs.dir;
    const leaf = (name: string, subject: string) =>
      issueCertificate(pki, o.certs.ca, { name, subject, usage: 'client' });
    const serving = issueCertificate(pki, o.certs.ca, {
      name: `kubelet-serving-${ns.nodeAddress}`,
      subject: `/CN=${o.nodeName}`,
      usage: 'server',
      ips: [ns.nodeAddress],
      dns: [o.nodeName],
    });
    const kubeconfig = (
      name: string,
      user: string,
      client: ReturnType<typeof leaf>,
      server = NODE_API_SERVER,
    ): string => {
      const path = join(dir, `${name}.kubeconfig`);
      writeKubeconfig(path, { server, caFile: o.certs.ca.cert, user, client });
      return path;
    };
    const kubeletKc = kubeconfig('kubelet', `system:node:${o.nodeName}`, o.certs.node);
    const proxyKc = kubeconfig('kube-proxy', 'system:kube-proxy', leaf('kube-proxy', '/CN=system:kube-proxy'));
    const routerKc = kubeconfig('kube-router', KUBE_ROUTER_USER, leaf('kube-router', `/CN=${KUBE_ROUTER_USER}`));
    const provisionerKc = kubeconfig(
      'volume-provisioner',
      VOLUME_PROVISIONER_USER,
      leaf('volume-provisioner', `/CN=${VOLUME_PROVISIONER_USER}`),
      o.server,
    );
    const schedulerKc = kubeconfig(
      'kube-scheduler',
      'system:kube-scheduler',
      leaf('kube-scheduler', '/CN=system:kube-scheduler'),
      o.server,
    );

    const apiPort = Number(new URL(o.server).port);
    processes.push(...(await startApiRelay(ns, { apiPort, stateDir: dir, logDir: o.logDir })));
    processes.push(...(await startStoreRelay(ns, { storePort: o.storePort, stateDir: dir, logDir: o.logDir })));
    processes.push(
      ...(await startClusterEgress(ns, bins.tinyproxy, { socket: o.egressSocket, stateDir: dir, logDir: o.logDir })),
    );
    const t0 = Date.now();
    await seedImages(ns, { stateDir: dir, logDir: o.logDir, archives, report: o.report });
    o.report(`images in place for containerd in ${Date.now() - t0} ms`);
    const containerd = await startContainerd(ns, { stateDir: dir, logDir: o.logDir, sandboxImage: pauseImage() });
    processes.push(containerd.process);
    await grantNodeServices(o.admin);
    await publishApiServerEndpoint(o.admin, ns.nodeAddress);
    await applyStorageClass(o.admin);
    provisioner = await startVolumeProvisioner(loadKubeConfig(provisionerKc), () => join(dir, 'volumes'), o.report);

    processes.push(startScheduler(bins.kubeScheduler, { kubeconfig: schedulerKc, logDir: o.logDir }));
    const kubeletStartedAt = Date.now();
    processes.push(
      startKubelet(ns, bins.kubelet, {
        nodeName: o.nodeName,
        stateDir: dir,
        logDir: o.logDir,
        kubeconfig: kubeletKc,
        clientCa: o.certs.ca.cert,
        serving,
        cgroupRoot: `/${cgroupRoot}`,
      }),
    );
    const service = { nodeName: o.nodeName, stateDir: dir, logDir: o.logDir };
    processes.push(startKubeProxy(ns, bins.kubeProxy, { ...service, kubeconfig: proxyKc }));
    // kube-router gives up at start unless it finds its Node: wait for kubelet to register it.
    const core = o.admin.makeApiClient(CoreV1Api);
    await Promise.race([
      waitFor(
        `kubelet to register node ${o.nodeName}`,
        async () => Boolean(await core.readNode({ name: o.nodeName })),
        60_000,
        100,
      ),
      ...processes.map(async (p) => {
        throw new Error(`${p.name} exited (${await p.exited}) while the node started; see ${p.logFile}`);
      }),
    ]);
    processes.push(startKubeRouter(ns, bins.kubeRouter, { ...service, kubeconfig: routerKc }));
    return { namespace: ns, processes, cgroupRoot, kubeletStartedAt, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
