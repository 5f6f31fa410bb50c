import { readFileSync, mkdirSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import type { Binaries } from './binaries.ts';
import type { ClusterCerts } from './certs.ts';
import { writeKubeconfig } from './kubeconfig.ts';
import { freePort, startProcess, waitFor, type ManagedProcess } from './processes.ts';

export interface ControlPlane {
  server: string;
  adminKubeconfig: string;
  processes: ManagedProcess[];
}

// Controllers this platform has no use for: a cloud's, node IPAM and routes (each node's CNI configuration holds its
// pod range, real-node/containerd.ts), volume attach, expansion and protection, bootstrap tokens, certificate signing,
// node TTLs and Service CIDRs.
// The node-lifecycle controller runs, to remove the not-ready taint a kubelet registers with, and the PV binder, to
// bind claims to the provisioner's volumes (real-node/volume-provisioner.ts).
const DISABLED_CONTROLLERS = [
  'node-ipam-controller',
  'cloud-node-lifecycle-controller',
  'node-route-controller',
  'service-lb-controller',
  'persistentvolume-expander-controller',
  'persistentvolume-attach-detach-controller',
  'persistentvolume-protection-controller',
  'ttl-controller',
  'bootstrap-signer-controller',
  'token-cleaner-controller',
  'certificatesigningrequest-signing-controller',
  'certificatesigningrequest-approving-controller',
  'certificatesigningrequest-cleaner-controller',
  'service-cidr-controller',
];

/** GET `path` on the API server as admin; resolves with the HTTP status. */
function adminGet(server: string, certs: ClusterCerts, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${server}${path}`,
      {
        ca: readFileSync(certs.ca.cert),
        cert: readFileSync(certs.admin.cert),
        key: readFileSync(certs.admin.key),
        timeout: 2000,
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** Starts etcd, kube-apiserver and kube-controller-manager on 127.0.0.1 with TLS, and writes an admin kubeconfig. */
export async function startControlPlane(opts: {
  stateDir: string;
  bins: Binaries;
  certs: ClusterCerts;
  /** Where the API server sends its "cluster" connections (webhooks, kubelet, proxies): see real-node/cluster-egress.ts. */
  egressSelectorConfig?: string;
}): Promise<ControlPlane> {
  const { stateDir, bins, certs } = opts;
  const logs = join(stateDir, 'logs');
  mkdirSync(logs, { recursive: true });
  const processes: ManagedProcess[] = [];
  try {
    const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
    const etcdUrl = `https://127.0.0.1:${etcdClient}`;
    const peerUrl = `http://127.0.0.1:${etcdPeer}`;
    processes.push(
      startProcess(
        'etcd',
        bins.etcd,
        [
          '--name=c2d',
          `--data-dir=${join(stateDir, 'etcd')}`,
          `--listen-client-urls=${etcdUrl}`,
          `--advertise-client-urls=${etcdUrl}`,
          `--listen-peer-urls=${peerUrl}`,
          `--initial-advertise-peer-urls=${peerUrl}`,
          `--initial-cluster=c2d=${peerUrl}`,
          `--cert-file=${certs.etcdServer.cert}`,
          `--key-file=${certs.etcdServer.key}`,
          '--client-cert-auth',
          `--trusted-ca-file=${certs.ca.cert}`,
          '--listen-metrics-urls=',
          '--quota-backend-bytes=2147483648',
          '--snapshot-count=10000',
          '--unsafe-no-fsync',
        ],
        { logFile: join(logs, 'etcd.log') },
      ),
    );

    const server = `https://127.0.0.1:${apiPort}`;
    processes.push(
      startProcess(
        'kube-apiserver',
        bins.kubeApiserver,
        [
          `--etcd-servers=${etcdUrl}`,
          `--etcd-cafile=${certs.ca.cert}`,
          `--etcd-certfile=${certs.apiserverEtcdClient.cert}`,
          `--etcd-keyfile=${certs.apiserverEtcdClient.key}`,
          '--bind-address=127.0.0.1',
          '--advertise-address=127.0.0.1',
          `--secure-port=${apiPort}`,
          `--tls-cert-file=${certs.apiserver.cert}`,
          `--tls-private-key-file=${certs.apiserver.key}`,
          `--client-ca-file=${certs.ca.cert}`,
          '--anonymous-auth=false',
          '--authorization-mode=Node,RBAC',
          '--enable-admission-plugins=NodeRestriction',
          '--service-cluster-ip-range=10.96.0.0/16',
          '--endpoint-reconciler-type=none',
          '--service-account-issuer=https://kubernetes.default.svc',
          '--api-audiences=https://kubernetes.default.svc',
          `--service-account-key-file=${certs.serviceAccount.publicKey}`,
          `--service-account-signing-key-file=${certs.serviceAccount.privateKey}`,
          `--kubelet-client-certificate=${certs.apiserverKubeletClient.cert}`,
          `--kubelet-client-key=${certs.apiserverKubeletClient.key}`,
          `--kubelet-certificate-authority=${certs.ca.cert}`,
          '--kubelet-preferred-address-types=InternalIP',
          '--allow-privileged=false',
          '--profiling=false',
          `--cert-dir=${join(stateDir, 'apiserver-certs')}`,
          ...(opts.egressSelectorConfig ? [`--egress-selector-config-file=${opts.egressSelectorConfig}`] : []),
        ],
        { logFile: join(logs, 'kube-apiserver.log') },
      ),
    );
    await Promise.race([
      waitFor('kube-apiserver /readyz', async () => (await adminGet(server, certs, '/readyz')) === 200, 90_000, 200),
      ...processes.map(async (p) => {
        const code = await p.exited;
        throw new Error(`${p.name} exited (${code}) during start-up; see ${p.logFile}`);
      }),
    ]);

    const adminKubeconfig = join(stateDir, 'admin.kubeconfig');
    writeKubeconfig(adminKubeconfig, { server, caFile: certs.ca.cert, user: 'c2d-dev-admin', client: certs.admin });
    const cmKubeconfig = join(stateDir, 'controller-manager.kubeconfig');
    writeKubeconfig(cmKubeconfig, {
      server,
      caFile: certs.ca.cert,
      user: 'system:kube-controller-manager',
      client: certs.controllerManager,
    });

    processes.push(
      startProcess(
        'kube-controller-manager',
        bins.kubeControllerManager,
        [
          `--kubeconfig=${cmKubeconfig}`,
          '--use-service-account-credentials=true',
          '--leader-elect=false',
          '--secure-port=0',
          `--root-ca-file=${certs.ca.cert}`,
          `--service-account-private-key-file=${certs.serviceAccount.privateKey}`,
          `--controllers=*,${DISABLED_CONTROLLERS.map((c) => `-${c}`).join(',')}`,
          '--concurrent-gc-syncs=5',
          '--concurrent-namespace-syncs=5',
        ],
        { logFile: join(logs, 'kube-controller-manager.log') },
      ),
    );
    return { server, adminKubeconfig, processes };
  } catch (err) {
    await Promise.all(processes.reverse().map((p) => p.stop()));
    throw err;
  }
}
