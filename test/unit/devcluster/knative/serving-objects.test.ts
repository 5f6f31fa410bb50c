import type { KubernetesObject } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import {
  applyOrder,
  servingObjects,
  TRAEFIK_INGRESS_CLASS,
  type ServingSettings,
} from '../../../../devcluster/knative/serving-objects.ts';

const settings: ServingSettings = {
  servingVersion: 'v0.43.0',
  registriesSkippingTagResolving: ['dev.local', 'docker.io'],
  autoscaler: { 'stable-window': '10s' },
};

const deployment = (name: string, image: string): KubernetesObject =>
  ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'knative-serving' },
    spec: { template: { spec: { containers: [{ name, image }] } } },
  }) as KubernetesObject;
const configMap = (name: string, data: Record<string, string>): KubernetesObject =>
  ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'knative-serving' }, data }) as KubernetesObject;

describe('servingObjects', () => {
  it('points every ko:// image at the locally built image of the same program and version', () => {
    const [controller, other] = servingObjects(
      [deployment('controller', 'ko://knative.dev/serving/cmd/controller'), deployment('x', 'example.org/x:1')],
      settings,
    ) as { spec: { template: { spec: { containers: { image: string }[] } } } }[];
    expect(controller!.spec.template.spec.containers[0]!.image).toBe('dev.local/knative/controller:v0.43.0');
    expect(other!.spec.template.spec.containers[0]!.image).toBe('example.org/x:1');
  });

  it('sets the queue sidecar image, the registries left unresolved, the ingress class and the autoscaler windows', () => {
    const out = servingObjects(
      [
        configMap('config-deployment', { 'queue-sidecar-image': 'ko://knative.dev/serving/cmd/queue', _example: 'x' }),
        configMap('config-network', { _example: 'x' }),
        configMap('config-autoscaler', { _example: 'x' }),
      ],
      settings,
    ) as { data: Record<string, string> }[];
    expect(out[0]!.data).toEqual({
      'queue-sidecar-image': 'dev.local/knative/queue:v0.43.0',
      'registries-skipping-tag-resolving': 'dev.local,docker.io',
      _example: 'x',
    });
    expect(out[1]!.data['ingress-class']).toBe(TRAEFIK_INGRESS_CLASS);
    expect(out[2]!.data['stable-window']).toBe('10s');
  });

  it('sets the CPU request of the Deployments named, keeping the rest of their resources', () => {
    const activator = deployment('activator', 'ko://knative.dev/serving/cmd/activator');
    const spec = (activator as { spec: { template: { spec: { containers: Record<string, unknown>[] } } } }).spec;
    spec.template.spec.containers[0]!.resources = { requests: { cpu: '300m', memory: '60Mi' }, limits: { cpu: '1' } };
    const [changed, untouched] = servingObjects(
      [activator, deployment('webhook', 'ko://knative.dev/serving/cmd/webhook')],
      {
        ...settings,
        cpuRequests: { activator: '100m' },
      },
    ) as { spec: { template: { spec: { containers: { resources?: unknown }[] } } } }[];
    expect(changed!.spec.template.spec.containers[0]!.resources).toEqual({
      requests: { cpu: '100m', memory: '60Mi' },
      limits: { cpu: '1' },
    });
    expect(untouched!.spec.template.spec.containers[0]!.resources).toBeUndefined();
  });

  it('drops the HorizontalPodAutoscalers and leaves its input unchanged', () => {
    const input = [
      { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'activator' } },
      deployment('webhook', 'ko://knative.dev/serving/cmd/webhook'),
    ] as KubernetesObject[];
    const before = structuredClone(input);
    expect(servingObjects(input, settings).map((o) => o.kind)).toEqual(['Deployment']);
    expect(input).toEqual(before);
  });
});

describe('applyOrder', () => {
  it('applies namespaces first and webhook configurations last', () => {
    const kinds = ['ValidatingWebhookConfiguration', 'Deployment', 'ConfigMap', 'Namespace', 'Image', 'ServiceAccount'];
    const sorted = applyOrder(kinds.map((kind) => ({ kind, metadata: { name: kind } }) as KubernetesObject));
    expect(sorted.map((o) => o.kind)).toEqual([
      'Namespace',
      'ServiceAccount',
      'ConfigMap',
      'Deployment',
      'Image',
      'ValidatingWebhookConfiguration',
    ]);
  });
});
