import type { KubernetesObject, V1ClusterRole, V1Deployment } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import {
  providerGateway,
  TRAEFIK_GATEWAY_CLASS,
  traefikObjects,
} from '../../../../devcluster/knative/traefik-objects.ts';

const objects = traefikObjects('dev.local/traefik:v3.6.12');
const find = <T>(kind: string): T => objects.find((o) => o.kind === kind) as T;
const args = find<V1Deployment>('Deployment').spec!.template.spec!.containers[0]!.args!;

describe('traefikObjects', () => {
  it("run Traefik's Knative provider and its Gateway API provider together", () => {
    expect(args).toEqual(
      expect.arrayContaining([
        '--experimental.knative=true',
        '--providers.knative.privateEntrypoints=private',
        '--providers.kubernetesgateway=true',
      ]),
    );
    expect(find<KubernetesObject & { spec: object }>('GatewayClass')).toMatchObject({
      metadata: { name: TRAEFIK_GATEWAY_CLASS },
      spec: { controllerName: 'traefik.io/gateway-controller' },
    });
  });

  it('give the provider Gateway a listener on the public entrypoint: Traefik serves a listener by its port', () => {
    const gateway = providerGateway('c2d-system') as KubernetesObject & {
      spec: { gatewayClassName: string; listeners: { port: number; protocol: string }[] };
    };
    expect(gateway.metadata).toEqual({ name: 'c2d-provider', namespace: 'c2d-system' });
    expect(gateway.spec.gatewayClassName).toBe(TRAEFIK_GATEWAY_CLASS);
    const web = args.find((a) => a.startsWith('--entrypoints.web.address='));
    expect(web).toBe(`--entrypoints.web.address=:${gateway.spec.listeners[0]!.port}`);
    expect(gateway.spec.listeners[0]!.protocol).toBe('HTTP');
  });

  it('let Traefik read what its providers watch and write only their status', () => {
    const role = find<V1ClusterRole>('ClusterRole');
    const writes = role.rules!.filter((r) => r.verbs.some((v) => !['get', 'list', 'watch'].includes(v)));
    for (const rule of writes) {
      expect(rule.verbs).toEqual(['update']);
      for (const resource of rule.resources!) expect(resource).toMatch(/\/status$/);
    }
    const gatewayReads = role.rules!.find(
      (r) => r.apiGroups?.includes('gateway.networking.k8s.io') && r.verbs.includes('watch'),
    );
    expect(gatewayReads?.resources).toEqual(
      expect.arrayContaining(['gateways', 'httproutes', 'referencegrants', 'backendtlspolicies']),
    );
  });
});
