import {
  CoreV1Api,
  DiscoveryV1Api,
  RbacAuthorizationV1Api,
  type KubeConfig,
  type V1EndpointSlice,
} from '@kubernetes/client-node';
import { NODE_API_PORT } from './api-relay.ts';
import { CLUSTER_DNS } from './kubelet.ts';
import { VOLUME_PROVISIONER_USER } from './volume-provisioner.ts';

export const COREDNS_USER = 'c2d:coredns';
export const KUBE_ROUTER_USER = 'c2d:kube-router';

async function createIfMissing(fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
  }
}

async function grant(
  rbac: RbacAuthorizationV1Api,
  user: string,
  rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[],
): Promise<void> {
  await createIfMissing(() => rbac.createClusterRole({ body: { metadata: { name: user }, rules } }));
  await createIfMissing(() =>
    rbac.createClusterRoleBinding({
      body: {
        metadata: { name: user },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: user },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
      },
    }),
  );
}

/** What CoreDNS and kube-router read and the volume provisioner writes, and nothing more; kube-proxy and kube-scheduler have built-in roles. */
export async function grantNodeServices(admin: KubeConfig): Promise<void> {
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
  const read = ['get', 'list', 'watch'];
  await grant(rbac, COREDNS_USER, [
    { apiGroups: [''], resources: ['services', 'namespaces', 'pods'], verbs: ['list', 'watch'] },
    { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
  ]);
  await grant(rbac, KUBE_ROUTER_USER, [
    { apiGroups: [''], resources: ['pods', 'namespaces', 'nodes', 'services', 'endpoints'], verbs: read },
    { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: read },
    { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: read },
  ]);
  await grant(rbac, VOLUME_PROVISIONER_USER, [
    { apiGroups: [''], resources: ['persistentvolumeclaims'], verbs: ['list', 'watch'] },
    { apiGroups: [''], resources: ['persistentvolumes'], verbs: ['create', 'delete'] },
  ]);
}

/** Creates the EndpointSlice, or replaces it when one of that name exists (a platform started again). */
async function upsertSlice(discovery: DiscoveryV1Api, namespace: string, slice: V1EndpointSlice): Promise<void> {
  try {
    await discovery.createNamespacedEndpointSlice({ namespace, body: slice });
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
    await discovery.replaceNamespacedEndpointSlice({ name: slice.metadata!.name!, namespace, body: slice });
  }
}

const MANAGED_BY = { 'endpointslice.kubernetes.io/managed-by': 'c2d-devcluster' };

/**
 * Where pods find the API server: the kubernetes Service (10.96.0.1:443, whose address kubelet gives every pod in
 * KUBERNETES_SERVICE_HOST) sends to the API relay on the node's address. The API server itself publishes no
 * endpoint (--endpoint-reconciler-type=none): its own address, 127.0.0.1, means nothing to a pod.
 */
export async function publishApiServerEndpoint(admin: KubeConfig, nodeAddress: string): Promise<void> {
  await upsertSlice(admin.makeApiClient(DiscoveryV1Api), 'default', {
    metadata: { name: 'kubernetes-node', labels: { 'kubernetes.io/service-name': 'kubernetes', ...MANAGED_BY } },
    addressType: 'IPv4',
    endpoints: [{ addresses: [nodeAddress], conditions: { ready: true } }],
    ports: [{ name: 'https', protocol: 'TCP', port: NODE_API_PORT }],
  });
}

/** The kube-dns Service at the cluster DNS address, served by CoreDNS on the node's address. */
export async function createDnsService(admin: KubeConfig, nodeAddress: string): Promise<void> {
  const core = admin.makeApiClient(CoreV1Api);
  const discovery = admin.makeApiClient(DiscoveryV1Api);
  const namespace = 'kube-system';
  await createIfMissing(() => core.createNamespace({ body: { metadata: { name: namespace } } }));
  const ports = [
    { name: 'dns', protocol: 'UDP', port: 53 },
    { name: 'dns-tcp', protocol: 'TCP', port: 53 },
  ];
  await createIfMissing(() =>
    core.createNamespacedService({
      namespace,
      body: {
        metadata: { name: 'kube-dns', labels: { 'k8s-app': 'kube-dns' } },
        spec: { clusterIP: CLUSTER_DNS, ports: ports.map((p) => ({ ...p, targetPort: 53 })) },
      },
    }),
  );
  await upsertSlice(discovery, namespace, {
    metadata: { name: 'kube-dns-node', labels: { 'kubernetes.io/service-name': 'kube-dns', ...MANAGED_BY } },
    addressType: 'IPv4',
    endpoints: [{ addresses: [nodeAddress], conditions: { ready: true } }],
    ports,
  });
}
