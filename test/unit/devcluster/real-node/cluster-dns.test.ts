import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAllYaml, type V1Deployment, type V1NetworkPolicy, type V1Service } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { clusterDnsObjects, corefile, DNS_NAMESPACE } from '../../../../devcluster/real-node/cluster-dns.ts';
import { CLUSTER_DNS, CLUSTER_DOMAIN } from '../../../../devcluster/real-node/kubelet.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../../..');
const objects = clusterDnsObjects('c2d.local/coredns:test');
const deployment = objects.find((o) => o.kind === 'Deployment') as V1Deployment;
const service = objects.find((o) => o.kind === 'Service') as V1Service;
const pod = deployment.spec!.template;

describe('cluster DNS objects', () => {
  it('serve the cluster domain at the address kubelet gives every pod, from the CoreDNS pods', () => {
    expect(corefile()).toContain(`kubernetes ${CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {`);
    expect(corefile()).not.toMatch(/forward|proxy/);
    expect(service.metadata).toMatchObject({ name: 'kube-dns', namespace: DNS_NAMESPACE });
    expect(service.spec?.clusterIP).toBe(CLUSTER_DNS);
    expect(service.spec?.selector).toEqual(deployment.spec?.selector?.matchLabels);
    expect(pod.metadata?.labels).toMatchObject(deployment.spec!.selector.matchLabels!);
    expect(pod.spec?.containers[0]?.image).toBe('c2d.local/coredns:test');
  });

  it("are what manifests/network-policies.yaml's DNS rules let job pods reach, on the port they allow", () => {
    const policies = loadAllYaml(
      readFileSync(join(root, 'manifests/network-policies.yaml'), 'utf8'),
    ) as V1NetworkPolicy[];
    const dnsRules = policies.flatMap((p) =>
      (p.spec?.egress ?? []).filter((r) => r.to?.some((t) => t.podSelector?.matchLabels?.['k8s-app'])),
    );
    expect(dnsRules.length).toBeGreaterThanOrEqual(3);
    for (const rule of dnsRules) {
      for (const to of rule.to!) {
        expect(to.namespaceSelector?.matchLabels).toEqual({ 'kubernetes.io/metadata.name': DNS_NAMESPACE });
        expect(pod.metadata?.labels).toMatchObject(to.podSelector!.matchLabels!);
      }
      const ports = pod.spec!.containers[0]!.ports!.map((p) => `${p.protocol}/${p.containerPort}`).sort();
      expect(rule.ports!.map((p) => `${p.protocol}/${p.port}`).sort()).toEqual(ports);
    }
  });

  it('run CoreDNS as a non-root user with no capability, read-only, not resolving through itself', () => {
    expect(pod.spec?.dnsPolicy).toBe('Default');
    expect(pod.spec?.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
      sysctls: [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '53' }],
    });
    expect(pod.spec?.containers[0]?.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(pod.spec?.containers[0]?.resources?.limits?.memory).toBeDefined();
  });
});
