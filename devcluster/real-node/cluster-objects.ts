import { DiscoveryV1Api, RbacAuthorizationV1Api, type KubeConfig, type V1EndpointSlice } from '@kubernetes/client-node';
import { NODE_API_PORT } from './api-relay.ts';
import { VOLUME_PROVISIONER_USER } from './volume-provisioner.ts';

export const KUBE_ROUTER_USER = 'c2d:kube-router';

export async function createIfMissing(fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
  }
}

/**
 * Creates the object unless `read` finds it. For a Service with a fixed address, creating it again fails with 422
 * (the address is taken, by itself) before the API server ever answers 409.
 */
export async function createUnlessFound(read: () => Promise<unknown>, create: () => Promise<unknown>): Promise<void> {
  try {
    await read();
  } catch (err) {
    if ((err as { code?: number }).code !== 404) throw err;
    await createIfMissing(create);
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

/** What kube-router reads and the volume provisioner writes, and nothing more; kube-proxy and kube-scheduler have built-in roles. */
export async function grantNodeServices(admin: KubeConfig): Promise<void> {
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
  const read = ['get', 'list', 'watch'];
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
