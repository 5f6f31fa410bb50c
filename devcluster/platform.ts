import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadKubeConfig } from '../lib/kube/client.ts';
import { binaryPaths, missingBinaries } from './binaries.ts';
import { createNamespaces, installCrds } from './bootstrap.ts';
import { ensureClusterCerts } from './certs.ts';
import { deployOcean, devKeys, startChain, type ChainHandle } from './chain.ts';
import { startControlPlane } from './control-plane.ts';
import { startObjectStore } from './object-store.ts';
import { startRealNodes, type NodePart, type RealNode, type RealNodes } from './real-node/real-node.ts';
import { publishResultsStore } from './real-node/results-store.ts';
import { installClusterDns } from './real-node/cluster-dns.ts';
import { corednsImage } from './real-node/images.ts';
import { clusterEgressSocket, egressSelectorConfig as egressSelectorConfigText } from './real-node/cluster-egress.ts';
import { installKnativeServing, knativeImageArchives } from './knative/serving.ts';
import type { PlatformEnv } from './platform-env.ts';
import { crashAndRestart, lastLines, waitFor, type ManagedProcess } from './processes.ts';
import { CoreV1Api } from '@kubernetes/client-node';

export const NODE_NAME = 'c2d-local-node';
export const NAMESPACES = { system: 'c2d-system', jobs: 'c2d-jobs' };

/** The parts a test can crash and start again: the API server, and kubelet or containerd of the first node. */
export type RestartablePart = 'kube-apiserver' | NodePart;

export interface Platform {
  env: PlatformEnv;
  stop(): Promise<void>;
  /**
   * Kills a part with SIGKILL, as a crash, keeps it down for `downMs`, starts it again with the same settings, and
   * resolves once it serves again. The node's containers keep running under their shims whichever of kubelet and
   * containerd is down, as on a production node.
   */
  restart(part: RestartablePart, opts?: { downMs?: number }): Promise<void>;
  /** The first node (kubelet + containerd). */
  realNode: RealNode;
  /** Every node, and what runs once for them all. */
  realNodes: RealNodes;
}

/** The real nodes' names: NODE_NAME, then NODE_NAME-2, … */
export function realNodeNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => (i === 0 ? NODE_NAME : `${NODE_NAME}-${i + 1}`));
}

async function nodeReady(core: CoreV1Api, name = NODE_NAME): Promise<boolean> {
  const n = await core.readNode({ name });
  return Boolean(n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
}

const timed = async <T>(what: string, fn: () => Promise<T>, report: (m: string) => void): Promise<T> => {
  const t0 = Date.now();
  const result = await fn();
  report(`${what} ready in ${Date.now() - t0} ms`);
  return result;
};

/**
 * Starts every real part the project runs against, on 127.0.0.1: etcd + kube-apiserver + kube-controller-manager,
 * kube-scheduler and one or more nodes (kubelet with containerd, see real-node/), anvil with Ocean's contracts, and
 * MinIO. On failure, whatever was started is stopped again.
 */
export async function startPlatform(
  stateDir: string,
  report: (m: string) => void = () => undefined,
  opts: { knative?: boolean; /** Nodes to start (default 1). */ nodes?: number } = {},
): Promise<Platform> {
  const nodeCount = opts.nodes ?? 1;
  if (!Number.isInteger(nodeCount) || nodeCount < 1 || nodeCount > 8)
    throw new Error(`nodes must be a whole number from 1 to 8, not ${nodeCount}`);
  const bins = binaryPaths();
  const missing = missingBinaries(bins);
  if (missing.length)
    throw new Error(`dev cluster binaries not built: ${missing.join(', ')} (run devcluster/build-binaries.sh)`);
  mkdirSync(join(stateDir, 'logs'), { recursive: true });
  const processes: ManagedProcess[] = [];
  let chain: ChainHandle | undefined;
  let pending: Promise<unknown>[] = [];
  let realNodes: RealNodes | undefined;
  const stop = async (): Promise<void> => {
    await realNodes?.stop();
    for (const p of [...processes].reverse()) await p.stop();
    await chain?.stop();
  };
  try {
    const certs = ensureClusterCerts(join(stateDir, 'pki'), NODE_NAME);
    const keys = devKeys();
    const chainReady = timed(
      'chain',
      async () => {
        chain = await startChain({ stateDir });
        return { chain, ocean: await deployOcean(chain.rpcUrl, keys.deployer) };
      },
      report,
    );
    const storeReady = timed('object store', () => startObjectStore({ binary: bins.minio, stateDir }), report);
    pending = [chainReady, storeReady.then((s) => void processes.push(s.process))];
    // Failures surface through Promise.all below; this only keeps a rejection from going unhandled meanwhile.
    for (const p of pending) p.catch(() => undefined);

    const egressSocket = clusterEgressSocket(stateDir);
    const egressSelectorConfig = join(stateDir, 'egress-selector.yaml');
    writeFileSync(egressSelectorConfig, egressSelectorConfigText(egressSocket));
    const knativeImages = opts.knative ? knativeImageArchives(report) : undefined;
    const cp = await timed(
      'control plane',
      () => startControlPlane({ stateDir, bins, certs, egressSelectorConfig }),
      report,
    );
    processes.push(...cp.processes);
    const admin = loadKubeConfig(cp.adminKubeconfig);
    const core = admin.makeApiClient(CoreV1Api);
    /** What clients of the platform need, once the chain and the store are up too. */
    const platformEnv = async (): Promise<Omit<PlatformEnv, 'algorithmImages' | 'nodeLink'>> => {
      const [{ chain: ch, ocean }, store] = await Promise.all([chainReady, storeReady]);
      return {
        stateDir,
        kubeconfig: cp.adminKubeconfig,
        namespaces: NAMESPACES,
        rpcUrl: ch.rpcUrl,
        chainId: ch.chainId,
        keys,
        ocean,
        s3: store.s3,
        kn: bins.kn,
      };
    };
    const logDir = join(stateDir, 'logs');
    const storePort = Number(new URL((await storeReady).s3.endpoint).port);
    const nodeNames = realNodeNames(nodeCount);
    realNodes = await timed(
      'real node processes',
      () =>
        startRealNodes({
          nodeNames,
          stateDir,
          logDir,
          certs,
          server: cp.server,
          storePort,
          admin,
          egressSocket,
          extraImages: knativeImages,
          report,
        }),
      report,
    );
    await timed(
      'namespaces and CRDs',
      async () => {
        await createNamespaces(admin, NAMESPACES);
        await installCrds(admin, bins.crdDir);
      },
      report,
    );
    const started = realNodes;
    const node = started.nodes[0]!;
    await Promise.race([
      waitFor(
        `node${nodeCount > 1 ? 's' : ''} ${nodeNames.join(', ')} Ready`,
        async () => (await Promise.all(nodeNames.map((n) => nodeReady(core, n)))).every(Boolean),
        120_000,
        100,
      ),
      ...[...started.processes, ...started.nodes.flatMap((n) => n.processes)].map(async (p) => {
        const code = await p.exited;
        throw new Error(
          `${p.name} exited (${code}) while the node started; the end of ${p.logFile}:\n${lastLines(p.logFile, 8)}`,
        );
      }),
    ]);
    for (const n of started.nodes) {
      // The condition's own time (1 s resolution): the wait above also covered the namespaces and CRDs.
      const ready = (await core.readNode({ name: n.name })).status?.conditions?.find((c) => c.type === 'Ready');
      const readyAt = ready?.lastTransitionTime ? new Date(ready.lastTransitionTime).getTime() : Date.now();
      report(
        `real node${n === node ? '' : ` ${n.name}`} Ready ${Math.max(0, readyAt - n.kubeletStartedAt)} ms after kubelet started`,
      );
    }
    const [podS3Endpoint] = await Promise.all([
      timed('results store for pods', () => publishResultsStore(admin, node.namespace.nodeAddress), report),
      timed('cluster DNS', () => installClusterDns(admin, corednsImage()), report),
    ]);
    if (opts.knative) await timed('knative serving', () => installKnativeServing(admin, report), report);

    const restart = async (part: RestartablePart, restartOpts: { downMs?: number } = {}): Promise<void> => {
      if (part !== 'kube-apiserver') return node.restart(part, restartOpts);
      await crashAndRestart(processes, 'kube-apiserver', {
        downMs: restartOpts.downMs,
        serving: async () => (await core.readNamespace({ name: NAMESPACES.jobs })).metadata?.name === NAMESPACES.jobs,
      });
    };
    return {
      env: {
        ...(await platformEnv()),
        podS3Endpoint,
        algorithmImages: node.algorithmImages,
        nodeLink: {
          holderPid: node.namespace.holderPid,
          hostAddress: node.namespace.hostAddress,
          nodeAddress: node.namespace.nodeAddress,
          hostLink: node.namespace.hostLink,
        },
      },
      stop,
      restart,
      realNode: node,
      realNodes: started,
    };
  } catch (err) {
    // Let the parallel starts settle before stopping, so nothing they started is left running.
    await Promise.allSettled(pending);
    await stop();
    throw err;
  }
}

export function writeEnvFiles(env: PlatformEnv, toShell: (e: PlatformEnv) => string): void {
  writeFileSync(join(env.stateDir, 'env.json'), JSON.stringify(env, null, 2), { mode: 0o600 });
  writeFileSync(join(env.stateDir, 'env'), toShell(env), { mode: 0o600 });
}
