import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { waitFor } from '../processes.ts';
import { NODE_STORE_PORT } from './api-relay.ts';
import { createIfMissing, createUnlessFound } from './cluster-objects.ts';
import { CLUSTER_DOMAIN } from './kubelet.ts';

/** The namespace of the in-cluster way to the object store, labelled as manifests/network-policies.yaml asks. */
export const RESULTS_STORE_NAMESPACE = 'c2d-results-store';
const NAME = 'object-store';
const PORT = 9000;

/** Accepts on PORT and pipes each connection to TARGET (host:port): the whole program the relay pod runs. */
const FORWARDER = `
const net = require('net');
const [host, port] = process.env.TARGET.split(':');
net.createServer((c) => {
  const u = net.connect(Number(port), host);
  c.pipe(u).pipe(c);
  c.on('error', () => u.destroy());
  u.on('error', () => c.destroy());
}).listen(${PORT});
`;

/**
 * Where job pods reach the results store. MinIO runs on the host, relayed to the node's address (api-relay.ts);
 * manifests/network-policies.yaml lets publish pods reach an in-cluster store only in a namespace labelled
 * `c2d.oceanprotocol.com/results-store=allow`, as a publisher's in-cluster MinIO would be. So a pod there forwards
 * to the node's relay, behind a Service; the store's endpoint for pods is that Service's name, which publish pods
 * resolve through the cluster DNS as the policies let them. Resolves once the Service has a ready endpoint.
 */
export async function publishResultsStore(admin: KubeConfig, nodeAddress: string): Promise<string> {
  const core = admin.makeApiClient(CoreV1Api);
  const namespace = RESULTS_STORE_NAMESPACE;
  const labels = { 'app.kubernetes.io/name': NAME };
  await createIfMissing(() =>
    core.createNamespace({
      body: {
        metadata: {
          name: namespace,
          labels: {
            'c2d.oceanprotocol.com/results-store': 'allow',
            'pod-security.kubernetes.io/enforce': 'restricted',
          },
        },
      },
    }),
  );
  // A platform started again on its old state: the pod forwards to the node's old address.
  await core.deleteNamespacedPod({ name: NAME, namespace, gracePeriodSeconds: 0 }).catch((err: { code?: number }) => {
    if (err.code !== 404) throw err;
  });
  await waitFor(
    `the old results-store relay pod ${namespace}/${NAME} to go`,
    async () => {
      try {
        await core.readNamespacedPod({ name: NAME, namespace });
        return false;
      } catch (err) {
        if ((err as { code?: number }).code !== 404) throw err;
        return true;
      }
    },
    60_000,
    200,
  );
  await core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name: NAME, labels },
      spec: {
        automountServiceAccountToken: false,
        enableServiceLinks: false,
        securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
        containers: [
          {
            name: 'forward',
            image: 'docker.io/library/node:24',
            command: ['node', '-e', FORWARDER],
            env: [{ name: 'TARGET', value: `${nodeAddress}:${NODE_STORE_PORT}` }],
            ports: [{ containerPort: PORT }],
            readinessProbe: { tcpSocket: { port: PORT }, periodSeconds: 1 },
            resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '500m', memory: '128Mi' } },
            securityContext: {
              allowPrivilegeEscalation: false,
              readOnlyRootFilesystem: true,
              capabilities: { drop: ['ALL'] },
            },
          },
        ],
      },
    },
  });
  await createUnlessFound(
    () => core.readNamespacedService({ name: NAME, namespace }),
    () =>
      core.createNamespacedService({
        namespace,
        body: { metadata: { name: NAME }, spec: { selector: labels, ports: [{ port: PORT, targetPort: PORT }] } },
      }),
  );
  await waitFor(
    `the results-store relay pod ${namespace}/${NAME} to be Ready`,
    async () => {
      const pod = await core.readNamespacedPod({ name: NAME, namespace });
      return pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
    },
    120_000,
    200,
  );
  return `http://${NAME}.${namespace}.svc.${CLUSTER_DOMAIN}:${PORT}`;
}
