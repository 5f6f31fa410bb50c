import type { KubernetesObject } from '@kubernetes/client-node';

/**
 * What a publisher changes in Knative Serving's release YAML to run it here, and nothing else: the images (ko://
 * references become the locally built dev.local/knative/* images), the ingress class (Traefik's Knative provider), the
 * registries whose tags Knative must not resolve (no registry is reachable here: the node has the images), the
 * autoscaler windows, shortened so that scale-to-zero is observable within a test, and the CPU some Deployments
 * request, sized to the node.
 */
export interface ServingSettings {
  servingVersion: string;
  /** Registries whose image tags Knative takes as they are, without asking the registry for a digest. */
  registriesSkippingTagResolving: readonly string[];
  /** config-autoscaler keys (stable-window, scale-to-zero-grace-period, …). */
  autoscaler: Readonly<Record<string, string>>;
  /** CPU requests of Deployments' first containers, by Deployment name (e.g. `{ activator: '100m' }`). */
  cpuRequests?: Readonly<Record<string, string>>;
}

export const TRAEFIK_INGRESS_CLASS = 'traefik.ingress.networking.knative.dev';
const KO_PREFIX = 'ko://knative.dev/serving/cmd/';

export function servingImage(cmd: string, version: string): string {
  return `dev.local/knative/${cmd}:${version}`;
}

function resolveKo(ref: string, version: string): string {
  return ref.startsWith(KO_PREFIX) ? servingImage(ref.slice(KO_PREFIX.length), version) : ref;
}

type Obj = KubernetesObject & Record<string, unknown>;
type Containers = {
  image?: string;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}[];

/** The release objects as this platform applies them (pure: the input is not changed). */
export function servingObjects(release: readonly KubernetesObject[], s: ServingSettings): KubernetesObject[] {
  const out: KubernetesObject[] = [];
  for (const original of release) {
    // The activator's and webhook's HorizontalPodAutoscalers need a metrics API that this cluster does not serve.
    if (original.kind === 'HorizontalPodAutoscaler') continue;
    const o = structuredClone(original) as Obj;
    if (o.kind === 'Deployment') {
      const pod = (o.spec as { template: { spec: { containers: Containers; initContainers?: Containers } } }).template
        .spec;
      for (const c of [...pod.containers, ...(pod.initContainers ?? [])])
        if (c.image) c.image = resolveKo(c.image, s.servingVersion);
      const cpu = s.cpuRequests?.[o.metadata?.name ?? ''];
      const first = pod.containers[0];
      if (cpu && first) first.resources = { ...first.resources, requests: { ...first.resources?.requests, cpu } };
    }
    if (o.kind === 'Image' && o.apiVersion?.startsWith('caching.internal.knative.dev/')) {
      const spec = o.spec as { image: string };
      spec.image = resolveKo(spec.image, s.servingVersion);
    }
    if (o.kind === 'ConfigMap') {
      const data = ((o.data as Record<string, string> | undefined) ?? {}) as Record<string, string>;
      switch (o.metadata?.name) {
        case 'config-deployment':
          data['queue-sidecar-image'] = resolveKo(data['queue-sidecar-image'] ?? '', s.servingVersion);
          data['registries-skipping-tag-resolving'] = s.registriesSkippingTagResolving.join(',');
          break;
        case 'config-network':
          data['ingress-class'] = TRAEFIK_INGRESS_CLASS;
          break;
        case 'config-autoscaler':
          Object.assign(data, s.autoscaler);
          break;
      }
      o.data = data;
    }
    out.push(o);
  }
  return out;
}

const ORDER = [
  'Namespace',
  'CustomResourceDefinition',
  'ServiceAccount',
  'ClusterRole',
  'Role',
  'ClusterRoleBinding',
  'RoleBinding',
  'ConfigMap',
  'Secret',
  'Service',
  'Deployment',
  'PodDisruptionBudget',
];

/**
 * Apply order: what others refer to first, the webhook configurations last, since their failurePolicy is Fail and
 * the webhook is not serving until its Deployment is up.
 */
export function applyOrder(objects: readonly KubernetesObject[]): KubernetesObject[] {
  const rank = (o: KubernetesObject): number => {
    if (o.kind === 'MutatingWebhookConfiguration' || o.kind === 'ValidatingWebhookConfiguration') return 100;
    const i = ORDER.indexOf(o.kind ?? '');
    return i === -1 ? 50 : i;
  };
  return [...objects].sort((a, b) => rank(a) - rank(b));
}
