import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { CoordinationV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { missingBinaries, nodeBinaryPaths, type NodeBinaries } from '../binaries.ts';
import { issueCertificate, type ClusterCerts } from '../certs.ts';
import { writeKubeconfig } from '../kubeconfig.ts';
import { crashAndRestart, waitFor, type ManagedProcess } from '../processes.ts';
import { NODE_API_SERVER, startApiRelay, startStoreRelay } from './api-relay.ts';
import { createNodeCgroups, removeNodeCgroups } from './cgroups.ts';
import { startClusterEgress } from './cluster-egress.ts';
import { grantNodeServices, KUBE_ROUTER_USER, publishApiServerEndpoint } from './cluster-objects.ts';
import { nameAlgorithmImagesByDigest } from './algorithm-images.ts';
import { containerdAnswers, podCidr, startContainerd } from './containerd.ts';
import { ensureImageArchives, pauseImage, seedImages } from './images.ts';
import { kubeletHealthy, startKubelet } from './kubelet.ts';
import { startKubeProxy, startKubeRouter } from './network-services.ts';
import { recordInstance, sweepStaleInstances } from './instances.ts';
import { createNodeNamespace, type NodeNamespace } from './node-namespace.ts';
import { linkNodes, masqueradeOutsideCluster } from './node-routes.ts';
import { startScheduler } from './scheduler.ts';
import { applyStorageClass, startVolumeProvisioner, VOLUME_PROVISIONER_USER } from './volume-provisioner.ts';
import { loadKubeConfig } from '../../lib/kube/client.ts';

/** The parts of a node a test can crash and start again. */
export type NodePart = 'kubelet' | 'containerd';

export interface RealNode {
  name: string;
  namespace: NodeNamespace;
  /** The node's own processes (the cluster's, kube-scheduler, are RealNodes.processes). */
  processes: ManagedProcess[];
  /** kubelet's cgroupRoot: every pod's group is below it. */
  cgroupRoot: string;
  podCidr: string;
  /** When kubelet was started (ms since the epoch), to time the node's readiness. */
  kubeletStartedAt: number;
  /** The algorithm images' digests, by `image:tag` (algorithm-images.ts). */
  algorithmImages: Record<string, string>;
  /**
   * Kills kubelet or containerd with SIGKILL, keeps it down for `downMs`, starts it again with the same settings, and
   * resolves once it serves again: kubelet healthy and its node's Lease renewed by it, or containerd answering. The
   * containers keep running meanwhile, under their shims.
   */
  restart(part: NodePart, opts?: { downMs?: number }): Promise<void>;
  stop(): Promise<void>;
}

export interface RealNodes {
  /** The first is the one the API server's cluster egress and the results store's relay go through. */
  nodes: RealNode[];
  /** What runs once for every node: kube-scheduler. */
  processes: ManagedProcess[];
  stop(): Promise<void>;
}

export interface RealNodesOptions {
  nodeNames: string[];
  stateDir: string;
  logDir: string;
  certs: ClusterCerts;
  /** The API server's address on the host (https://127.0.0.1:PORT). */
  server: string;
  /** The object store's port on the host's 127.0.0.1, relayed to the first node's address (see results-store.ts). */
  storePort: number;
  admin: KubeConfig;
  /** The unix socket the API server's egress selector sends cluster connections to (see cluster-egress.ts). */
  egressSocket: string;
  /** Image archives to load beside the node's own (name → docker-archive). */
  extraImages?: Record<string, string>;
  report: (m: string) => void;
}

/** Where node `index` keeps its state and logs: the first as before there were several, the others beside it. */
export function nodePaths(o: { stateDir: string; logDir: string }, index: number): { dir: string; logDir: string } {
  return index === 0
    ? { dir: join(o.stateDir, 'node'), logDir: o.logDir }
    : { dir: join(o.stateDir, `node-${index + 1}`), logDir: join(o.logDir, `node-${index + 1}`) };
}

/**
 * Real Kubernetes nodes: each containerd + runc, kubelet, kube-proxy and kube-router in a network and mount namespace
 * of its own (see node-namespace.ts), linked to each other directly (node-routes.ts); kube-scheduler and the volume
 * provisioner once, beside the control plane. Cluster DNS runs on them as a pod (cluster-dns.ts) once they are
 * Ready. Stopping removes every process, mount, link, table and control group they made.
 */
export async function startRealNodes(o: RealNodesOptions): Promise<RealNodes> {
  const bins = nodeBinaryPaths();
  const missing = missingBinaries(bins);
  if (missing.length)
    throw new Error(`real node binaries not built: ${missing.join(', ')} (run devcluster/build-binaries.sh real-node)`);
  if (!o.nodeNames.length) throw new Error('no node to start');
  const archives = { ...ensureImageArchives(o.report), ...o.extraImages };
  const shared = nodePaths(o, 0).dir;
  mkdirSync(shared, { recursive: true });
  const nodes: RealNode[] = [];
  const processes: ManagedProcess[] = [];
  let provisioner: { stop(): void } | undefined;
  const stop = async (): Promise<void> => {
    provisioner?.stop();
    for (const p of [...processes].reverse()) await p.stop();
    for (const n of [...nodes].reverse()) await n.stop();
  };
  await sweepStaleInstances(o.report);
  try {
    const leaf = (name: string, subject: string) =>
      issueCertificate(o.certs.dir, o.certs.ca, { name, subject, usage: 'client' });
    const hostKubeconfig = (name: string, user: string): string => {
      const path = join(shared, `${name}.kubeconfig`);
      writeKubeconfig(path, { server: o.server, caFile: o.certs.ca.cert, user, client: leaf(name, `/CN=${user}`) });
      return path;
    };
    await grantNodeServices(o.admin);
    await applyStorageClass(o.admin);
    provisioner = await startVolumeProvisioner(
      loadKubeConfig(hostKubeconfig('volume-provisioner', VOLUME_PROVISIONER_USER)),
      (node) => join(nodePaths(o, Math.max(0, o.nodeNames.indexOf(node))).dir, 'volumes'),
      o.report,
    );
    processes.push(
      startScheduler(bins.kubeScheduler, {
        kubeconfig: hostKubeconfig('kube-scheduler', 'system:kube-scheduler'),
        logDir: o.logDir,
      }),
    );
    for (const [index, name] of o.nodeNames.entries()) {
      nodes.push(await startNode(o, bins, archives, index, name));
      if (index === 0) await publishApiServerEndpoint(o.admin, nodes[0]!.namespace.nodeAddress);
    }
    for (const [i, a] of nodes.entries())
      for (const b of nodes.slice(i + 1))
        await linkNodes(
          { index: i, namespace: a.namespace, podCidr: a.podCidr },
          { index: nodes.indexOf(b), namespace: b.namespace, podCidr: b.podCidr },
        );
    return { nodes, processes, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** One node; the first also carries the API server's cluster egress and the object store's relay. */
async function startNode(
  o: RealNodesOptions,
  bins: NodeBinaries,
  archives: Record<string, string>,
  index: number,
  nodeName: string,
): Promise<RealNode> {
  const { dir, logDir } = nodePaths(o, index);
  mkdirSync(logDir, { recursive: true });
  const id = randomBytes(5).toString('hex');
  const cgroupRoot = `c2d-kubelet-${id}`;
  const cidr = podCidr(index);
  const processes: ManagedProcess[] = [];
  let ns: NodeNamespace | undefined;
  let forget: (() => void) | undefined;
  const stop = async (): Promise<void> => {
    for (const p of [...processes].reverse()) await p.stop();
    // Containers live in pod network namespaces under kubelet's group, shims in the node's namespace.
    await removeNodeCgroups(cgroupRoot);
    await ns?.stop();
    forget?.();
  };
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
    await masqueradeOutsideCluster(ns, cidr);
    const pki = o.certs.dir;
    const leaf = (name: string, subject: string) =>
      issueCertificate(pki, o.certs.ca, { name, subject, usage: 'client' });
    const serving = issueCertificate(pki, o.certs.ca, {
      name: `kubelet-serving-${ns.nodeAddress}`,
      subject: `/CN=${nodeName}`,
      usage: 'server',
      ips: [ns.nodeAddress],
      dns: [nodeName],
    });
    const kubeconfig = (name: string, user: string, client: ReturnType<typeof leaf>): string => {
      const path = join(dir, `${name}.kubeconfig`);
      writeKubeconfig(path, { server: NODE_API_SERVER, caFile: o.certs.ca.cert, user, client });
      return path;
    };
    const kubeletUser = `system:node:${nodeName}`;
    const kubeletKc = kubeconfig(
      'kubelet',
      kubeletUser,
      index === 0 ? o.certs.node : leaf(`kubelet-client-${nodeName}`, `/O=system:nodes/CN=${kubeletUser}`),
    );
    const proxyKc = kubeconfig('kube-proxy', 'system:kube-proxy', leaf('kube-proxy', '/CN=system:kube-proxy'));
    const routerKc = kubeconfig('kube-router', KUBE_ROUTER_USER, leaf('kube-router', `/CN=${KUBE_ROUTER_USER}`));

    const apiPort = Number(new URL(o.server).port);
    processes.push(...(await startApiRelay(ns, { apiPort, stateDir: dir, logDir })));
    if (index === 0) {
      processes.push(...(await startStoreRelay(ns, { storePort: o.storePort, stateDir: dir, logDir })));
      processes.push(
        ...(await startClusterEgress(ns, bins.tinyproxy, { socket: o.egressSocket, stateDir: dir, logDir })),
      );
    }
    const t0 = Date.now();
    await seedImages(ns, { stateDir: dir, logDir, archives, report: o.report });
    o.report(`images in place for containerd of ${nodeName} in ${Date.now() - t0} ms`);
    const containerd = await startContainerd(ns, {
      stateDir: dir,
      logDir,
      sandboxImage: pauseImage(),
      podCidr: cidr,
    });
    processes.push(containerd.process);
    const algorithmImages = await nameAlgorithmImagesByDigest(containerd);

    const kubeletStartedAt = Date.now();
    processes.push(
      startKubelet(ns, bins.kubelet, {
        nodeName,
        stateDir: dir,
        logDir,
        kubeconfig: kubeletKc,
        clientCa: o.certs.ca.cert,
        serving,
        cgroupRoot: `/${cgroupRoot}`,
      }),
    );
    const service = { nodeName, stateDir: dir, logDir };
    processes.push(startKubeProxy(ns, bins.kubeProxy, { ...service, kubeconfig: proxyKc }));
    // kube-router gives up at start unless it finds its Node: wait for kubelet to register it.
    const core = o.admin.makeApiClient(CoreV1Api);
    await Promise.race([
      waitFor(
        `kubelet to register node ${nodeName}`,
        async () => Boolean(await core.readNode({ name: nodeName })),
        60_000,
        100,
      ),
      ...processes.map(async (p) => {
        throw new Error(`${p.name} exited (${await p.exited}) while the node started; see ${p.logFile}`);
      }),
    ]);
    processes.push(startKubeRouter(ns, bins.kubeRouter, { ...service, kubeconfig: routerKc }));
    const node = ns;
    const leases = o.admin.makeApiClient(CoordinationV1Api);
    const restart = async (part: NodePart, opts: { downMs?: number } = {}): Promise<void> => {
      await crashAndRestart(processes, part, {
        downMs: opts.downMs,
        serving:
          part === 'containerd'
            ? () => containerdAnswers(node)
            : async (startedAt) => {
                if (!(await kubeletHealthy(node))) return false;
                const lease = await leases.readNamespacedLease({ name: nodeName, namespace: 'kube-node-lease' });
                // A MicroTime: the client hands it over as the API's string, whatever its type says.
                const renewed = lease.spec?.renewTime;
                return renewed !== undefined && new Date(renewed).getTime() >= startedAt;
              },
      });
    };
    return {
      name: nodeName,
      namespace: ns,
      processes,
      cgroupRoot,
      podCidr: cidr,
      kubeletStartedAt,
      algorithmImages,
      restart,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
