import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** The pinned versions from versions.env, the single source the build script also reads. */
export function pinnedVersions(): Record<string, string> {
  const versions: Record<string, string> = {};
  for (const line of readFileSync(join(here, 'versions.env'), 'utf8').split('\n')) {
    const m = /^([A-Z_]+)=(\S+)$/.exec(line.trim());
    if (m) versions[m[1]!] = m[2]!;
  }
  return versions;
}

export function cacheDir(): string {
  return process.env.C2D_CACHE ?? join(homedir(), '.cache', 'c2d-devcluster');
}

export interface Binaries {
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kn: string;
  minio: string;
  crdDir: string;
}

export function binaryPaths(): Binaries {
  const v = pinnedVersions();
  const bin = join(cacheDir(), 'bin');
  const k8s = join(bin, `kubernetes-${v.KUBERNETES_VERSION}`);
  return {
    etcd: join(bin, `etcd-${v.ETCD_VERSION}`),
    kubeApiserver: join(k8s, 'kube-apiserver'),
    kubeControllerManager: join(k8s, 'kube-controller-manager'),
    kn: join(bin, `kn-${v.KNATIVE_CLIENT_VERSION}`),
    minio: join(bin, `minio-${v.MINIO_VERSION}`),
    crdDir: join(cacheDir(), 'crds', `knative-${v.KNATIVE_SERVING_VERSION}-gateway-${v.GATEWAY_API_VERSION}`),
  };
}

/** The real node's own binaries, built by `devcluster/build-binaries.sh real-node`. */
export interface NodeBinaries {
  kubelet: string;
  kubeProxy: string;
  kubeScheduler: string;
  coredns: string;
  kubeRouter: string;
  pause: string;
  tinyproxy: string;
}

export function nodeBinaryPaths(): NodeBinaries {
  const v = pinnedVersions();
  const bin = join(cacheDir(), 'bin');
  const k8s = join(bin, `kubernetes-node-${v.KUBERNETES_VERSION}`);
  return {
    kubelet: join(k8s, 'kubelet'),
    kubeProxy: join(k8s, 'kube-proxy'),
    kubeScheduler: join(k8s, 'kube-scheduler'),
    coredns: join(bin, `coredns-${v.COREDNS_VERSION}`),
    kubeRouter: join(bin, `kube-router-${v.KUBE_ROUTER_VERSION}`),
    pause: join(bin, `pause-${v.KUBERNETES_VERSION}`),
    tinyproxy: join(bin, `tinyproxy-${v.TINYPROXY_DEB_VERSION}`),
  };
}

/** Knative Serving's release configuration (core YAML, networking and caching CRDs), fetched by build-binaries.sh knative. */
export function knativeConfigDir(): string {
  return join(cacheDir(), 'crds', `knative-serving-config-${pinnedVersions().KNATIVE_SERVING_VERSION}`);
}

/** The Gateway API CRDs Traefik's Gateway provider is built against, fetched by build-binaries.sh knative. */
export function traefikGatewayCrdDir(): string {
  return join(cacheDir(), 'crds', `traefik-${pinnedVersions().TRAEFIK_VERSION}-gateway-api`);
}

/** The binaries not built yet; `devcluster/build-binaries.sh` builds them. */
export function missingBinaries(b: Binaries | NodeBinaries = binaryPaths()): string[] {
  return Object.entries(b)
    .filter(([, path]) => !existsSync(path))
    .map(([name]) => name);
}
