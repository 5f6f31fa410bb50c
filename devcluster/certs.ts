import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A key pair and certificate signed by the dev cluster's CA. */
export interface CertFiles {
  cert: string;
  key: string;
}

export interface ClusterCerts {
  dir: string;
  ca: CertFiles;
  apiserver: CertFiles;
  etcdServer: CertFiles;
  apiserverEtcdClient: CertFiles;
  apiserverKubeletClient: CertFiles;
  admin: CertFiles;
  controllerManager: CertFiles;
  node: CertFiles;
  serviceAccount: { privateKey: string; publicKey: string };
}

export interface LeafSpec<Name extends string = keyof Omit<ClusterCerts, 'dir' | 'ca' | 'serviceAccount'>> {
  name: Name;
  subject: string;
  usage: 'server' | 'client' | 'both';
  ips?: string[];
  dns?: string[];
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function leafExtensions(spec: LeafSpec<string>): string {
  const eku = spec.usage === 'server' ? 'serverAuth' : spec.usage === 'client' ? 'clientAuth' : 'serverAuth,clientAuth';
  const lines = [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    `extendedKeyUsage=${eku}`,
  ];
  const san = [...(spec.ips ?? []).map((ip) => `IP:${ip}`), ...(spec.dns ?? []).map((d) => `DNS:${d}`)];
  if (san.length) lines.push(`subjectAltName=${san.join(',')}`);
  return lines.join('\n') + '\n';
}

/** A certificate signed by the CA in `dir`, created once: DIR/NAME.crt and DIR/NAME.key. */
export function issueCertificate(dir: string, ca: CertFiles, spec: LeafSpec<string>): CertFiles {
  const f = { cert: join(dir, `${spec.name}.crt`), key: join(dir, `${spec.name}.key`) };
  if (existsSync(f.cert)) return f;
  const csr = join(dir, `${spec.name}.csr`);
  const ext = join(dir, `${spec.name}.ext`);
  writeFileSync(ext, leafExtensions(spec));
  openssl(
    [
      'req',
      '-new',
      '-nodes',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-keyout',
      f.key,
      '-out',
      csr,
      '-subj',
      spec.subject,
    ],
    dir,
  );
  openssl(
    [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      ca.cert,
      '-CAkey',
      ca.key,
      '-CAcreateserial',
      '-out',
      f.cert,
      '-days',
      '825',
      '-sha256',
      '-extfile',
      ext,
    ],
    dir,
  );
  return f;
}

/**
 * Creates (once per state directory) the CA and the certificates of the control plane and of the first node's kubelet
 * (real-node/ issues the nodes' others): EC P-256 keys, so the whole set takes well under a second.
 */
export function ensureClusterCerts(dir: string, nodeName: string): ClusterCerts {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const files = (name: string): CertFiles => ({ cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) });
  const ca = files('ca');
  if (!existsSync(ca.cert)) {
    openssl(
      [
        'req',
        '-x509',
        '-new',
        '-nodes',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-keyout',
        ca.key,
        '-out',
        ca.cert,
        '-days',
        '3650',
        '-subj',
        '/CN=c2d-dev-cluster-ca',
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ],
      dir,
    );
  }
  const leaves: LeafSpec[] = [
    {
      name: 'apiserver',
      subject: '/CN=kube-apiserver',
      usage: 'server',
      ips: ['127.0.0.1', '10.96.0.1'],
      dns: [
        'localhost',
        'kubernetes',
        'kubernetes.default',
        'kubernetes.default.svc',
        'kubernetes.default.svc.cluster.local',
      ],
    },
    { name: 'etcdServer', subject: '/CN=etcd', usage: 'both', ips: ['127.0.0.1'], dns: ['localhost'] },
    { name: 'apiserverEtcdClient', subject: '/CN=kube-apiserver-etcd-client', usage: 'client' },
    { name: 'apiserverKubeletClient', subject: '/O=system:masters/CN=kube-apiserver-kubelet-client', usage: 'client' },
    { name: 'admin', subject: '/O=system:masters/CN=c2d-dev-admin', usage: 'client' },
    { name: 'controllerManager', subject: '/CN=system:kube-controller-manager', usage: 'client' },
    { name: 'node', subject: `/O=system:nodes/CN=system:node:${nodeName}`, usage: 'client' },
  ];
  const result = { dir, ca } as ClusterCerts;
  for (const spec of leaves) result[spec.name] = issueCertificate(dir, ca, spec);
  const sa = { privateKey: join(dir, 'sa.key'), publicKey: join(dir, 'sa.pub') };
  if (!existsSync(sa.privateKey)) {
    openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', sa.privateKey], dir);
    openssl(['pkey', '-in', sa.privateKey, '-pubout', '-out', sa.publicKey], dir);
  }
  result.serviceAccount = sa;
  return result;
}
