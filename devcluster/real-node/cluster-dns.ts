import {
  DiscoveryV1Api,
  KubernetesObjectApi,
  PatchStrategy,
  type KubeConfig,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { waitFor } from '../processes.ts';
import { CLUSTER_DNS, CLUSTER_DOMAIN } from './kubelet.ts';

export const DNS_NAMESPACE = 'kube-system';
const NAME = 'coredns';
/** The label manifests/network-policies.yaml lets job pods reach on port 53, as every distribution labels CoreDNS. */
const LABELS = { 'k8s-app': 'kube-dns' };
const READY_PORT = 8181;
const HEALTH_PORT = 8080;

/** CoreDNS's configuration: cluster names only. It forwards nothing, as the node has no upstream resolver. */
export function corefile(): string {
  return `.:53 {
    errors
    health :${HEALTH_PORT}
    ready :${READY_PORT}
    kubernetes ${CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 30
    loadbalance
}
`;
}

/**
 * Cluster DNS as a cluster runs it: CoreDNS as a Deployment in kube-system labelled `k8s-app: kube-dns`, behind the
 * kube-dns Service at the address kubelet gives every pod (CLUSTER_DNS). It reads Services and EndpointSlices with
 * its ServiceAccount's token through the kubernetes Service, like any pod. It binds port 53 as a non-root user with
 * no capability: the pod lowers its own network namespace's unprivileged port start (a sysctl kubelet counts as
 * safe), so it passes the `restricted` profile.
 */
export function clusterDnsObjects(image: string): KubernetesObject[] {
  const namespace = DNS_NAMESPACE;
  const labels = { ...LABELS, 'app.kubernetes.io/managed-by': 'c2d-devcluster' };
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: NAME, namespace, labels } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: `c2d:${NAME}`, labels },
      rules: [
        { apiGroups: [''], resources: ['services', 'namespaces', 'pods'], verbs: ['list', 'watch'] },
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
      ],
    } as KubernetesObject,
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: `c2d:${NAME}`, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `c2d:${NAME}` },
      subjects: [{ kind: 'ServiceAccount', name: NAME, namespace }],
    } as KubernetesObject,
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: NAME, namespace, labels },
      data: { Corefile: corefile() },
    } as KubernetesObject,
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: NAME, namespace, labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: LABELS },
        template: {
          metadata: { labels: LABELS },
          spec: {
            serviceAccountName: NAME,
            // Not itself: CoreDNS resolves nothing through the cluster DNS.
            dnsPolicy: 'Default',
            priorityClassName: 'system-cluster-critical',
            securityContext: {
              runAsNonRoot: true,
              runAsUser: 65532,
              runAsGroup: 65532,
              seccompProfile: { type: 'RuntimeDefault' },
              sysctls: [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '53' }],
            },
            containers: [
              {
                name: NAME,
                image,
                args: ['-conf', '/etc/coredns/Corefile'],
                ports: [
                  { name: 'dns', containerPort: 53, protocol: 'UDP' },
                  { name: 'dns-tcp', containerPort: 53, protocol: 'TCP' },
                ],
                resources: { requests: { cpu: '50m', memory: '32Mi' }, limits: { memory: '128Mi' } },
                readinessProbe: { httpGet: { path: '/ready', port: READY_PORT }, periodSeconds: 2 },
                livenessProbe: {
                  httpGet: { path: '/health', port: HEALTH_PORT },
                  initialDelaySeconds: 10,
                  periodSeconds: 10,
                  failureThreshold: 5,
                },
                volumeMounts: [{ name: 'config', mountPath: '/etc/coredns', readOnly: true }],
                securityContext: {
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { drop: ['ALL'] },
                },
              },
            ],
            volumes: [{ name: 'config', configMap: { name: NAME } }],
          },
        },
      },
    } as KubernetesObject,
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'kube-dns', namespace, labels },
      spec: {
        selector: LABELS,
        clusterIP: CLUSTER_DNS,
        ports: [
          { name: 'dns', protocol: 'UDP', port: 53, targetPort: 53 },
          { name: 'dns-tcp', protocol: 'TCP', port: 53, targetPort: 53 },
        ],
      },
    } as KubernetesObject,
  ];
}

/**
 * Applies the cluster DNS objects (server-side, so a platform started again on its state updates them) and
 * resolves once the kube-dns Service has a ready endpoint.
 */
export async function installClusterDns(admin: KubeConfig, image: string): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(admin);
  const namespace: KubernetesObject = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: DNS_NAMESPACE } };
  for (const o of [namespace, ...clusterDnsObjects(image)]) {
    await api.patch(o, undefined, undefined, 'c2d-devcluster', true, PatchStrategy.ServerSideApply);
  }
  const discovery = admin.makeApiClient(DiscoveryV1Api);
  // A state from before CoreDNS ran as a pod has a hand-made slice to the node's old address.
  await discovery.deleteCollectionNamespacedEndpointSlice({
    namespace: DNS_NAMESPACE,
    labelSelector: 'kubernetes.io/service-name=kube-dns,endpointslice.kubernetes.io/managed-by=c2d-devcluster',
  });
  await waitFor(
    'CoreDNS to be ready behind the kube-dns Service',
    async () => {
      const slices = await discovery.listNamespacedEndpointSlice({
        namespace: DNS_NAMESPACE,
        labelSelector: 'kubernetes.io/service-name=kube-dns',
      });
      return slices.items.some((s) => s.endpoints?.some((e) => e.conditions?.ready));
    },
    120_000,
    250,
  );
}
