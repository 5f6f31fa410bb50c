import type { KubernetesObject } from '@kubernetes/client-node';

export const TRAEFIK_NAMESPACE = 'traefik';
/** The Service in front of Traefik's private entrypoint: Knative points cluster-local routes at it. */
export const TRAEFIK_PRIVATE_SERVICE = 'traefik-private';
/** The Service in front of its public entrypoint, where the provider's one URL is served. */
export const TRAEFIK_PUBLIC_SERVICE = 'traefik';
/** The GatewayClass of Traefik's Gateway API provider (its fixed controller name). */
export const TRAEFIK_GATEWAY_CLASS = 'traefik';
/** The public entrypoint's port: a Gateway listener is served by the entrypoint of the same port. */
export const TRAEFIK_WEB_PORT = 8000;

// What Traefik's Gateway provider watches (standard channel; TCPRoute and TLSRoute only with its experimental channel).
const GATEWAY_KINDS = [
  'gatewayclasses',
  'gateways',
  'httproutes',
  'grpcroutes',
  'referencegrants',
  'backendtlspolicies',
];

const restricted = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

/**
 * Traefik as Knative's ingress, as its Knative provider's documentation deploys it: a Deployment reading Knative's
 * Ingress objects, a public and a private entrypoint, each behind a Service. Both Services are NodePorts so that the
 * host reaches them through the node's address. Its Gateway API provider serves HTTPRoutes attached to Gateways of
 * its class on the public entrypoint: the provider's one URL (knative/httproute.yaml). RBAC as both providers'
 * documentation lists it, reads and status writes only (no pods: that is for OpenTelemetry attributes, not used).
 */
export function traefikObjects(image: string): KubernetesObject[] {
  const labels = { app: 'traefik' };
  const service = (name: string, port: string): KubernetesObject =>
    ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: TRAEFIK_NAMESPACE },
      spec: { type: 'NodePort', selector: labels, ports: [{ name: 'http', port: 80, targetPort: port }] },
    }) as KubernetesObject;
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: TRAEFIK_NAMESPACE } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'traefik', namespace: TRAEFIK_NAMESPACE } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'traefik-knative' },
      rules: [
        { apiGroups: [''], resources: ['services', 'secrets'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['networking.internal.knative.dev'], resources: ['ingresses'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['networking.internal.knative.dev'], resources: ['ingresses/status'], verbs: ['update'] },
        { apiGroups: [''], resources: ['namespaces'], verbs: ['list', 'watch'] },
        { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
        {
          apiGroups: ['gateway.networking.k8s.io'],
          resources: GATEWAY_KINDS,
          verbs: ['get', 'list', 'watch'],
        },
        {
          apiGroups: ['gateway.networking.k8s.io'],
          resources: GATEWAY_KINDS.map((k) => `${k}/status`),
          verbs: ['update'],
        },
      ],
    } as KubernetesObject,
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'traefik-knative' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'traefik-knative' },
      subjects: [{ kind: 'ServiceAccount', name: 'traefik', namespace: TRAEFIK_NAMESPACE }],
    } as KubernetesObject,
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'traefik', namespace: TRAEFIK_NAMESPACE, labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: 'traefik',
            containers: [
              {
                name: 'traefik',
                image,
                imagePullPolicy: 'IfNotPresent',
                args: [
                  `--entrypoints.web.address=:${TRAEFIK_WEB_PORT}`,
                  '--entrypoints.private.address=:8001',
                  '--entrypoints.traefik.address=:9000',
                  '--ping=true',
                  '--log.level=INFO',
                  '--experimental.knative=true',
                  '--providers.knative.publicEntrypoints=web',
                  `--providers.knative.publicService.namespace=${TRAEFIK_NAMESPACE}`,
                  `--providers.knative.publicService.name=${TRAEFIK_PUBLIC_SERVICE}`,
                  '--providers.knative.privateEntrypoints=private',
                  `--providers.knative.privateService.namespace=${TRAEFIK_NAMESPACE}`,
                  `--providers.knative.privateService.name=${TRAEFIK_PRIVATE_SERVICE}`,
                  '--providers.knative.throttleDuration=1s',
                  '--providers.kubernetesgateway=true',
                  '--providers.kubernetesgateway.throttleDuration=1s',
                ],
                ports: [
                  { name: 'web', containerPort: TRAEFIK_WEB_PORT },
                  { name: 'private', containerPort: 8001 },
                  { name: 'admin', containerPort: 9000 },
                ],
                readinessProbe: { httpGet: { path: '/ping', port: 'admin' }, periodSeconds: 2 },
                resources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '512Mi' } },
                securityContext: restricted,
              },
            ],
          },
        },
      },
    } as KubernetesObject,
    service(TRAEFIK_PUBLIC_SERVICE, 'web'),
    service(TRAEFIK_PRIVATE_SERVICE, 'private'),
    {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'GatewayClass',
      metadata: { name: TRAEFIK_GATEWAY_CLASS },
      spec: { controllerName: 'traefik.io/gateway-controller' },
    } as KubernetesObject,
  ];
}

/**
 * A publisher's Gateway on Traefik's public entrypoint, plain HTTP, taking routes from its own namespace: what
 * knative/httproute.yaml's parentRefs name (`c2d-provider`, in the functions' namespace).
 */
export function providerGateway(namespace: string, name = 'c2d-provider'): KubernetesObject {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: { name, namespace },
    spec: {
      gatewayClassName: TRAEFIK_GATEWAY_CLASS,
      listeners: [
        { name: 'web', protocol: 'HTTP', port: TRAEFIK_WEB_PORT, allowedRoutes: { namespaces: { from: 'Same' } } },
      ],
    },
  } as KubernetesObject;
}
