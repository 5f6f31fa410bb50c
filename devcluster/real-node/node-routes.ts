import { CLUSTER_CIDR } from './containerd.ts';
import type { NodeNamespace } from './node-namespace.ts';

/**
 * How pod traffic leaves a node's namespace. Pods keep their own address within the cluster's range (another
 * node's kube-router then applies NetworkPolicy to the real sender); what leaves the range (the host, anything past
 * it) is masqueraded to the node's address, as the host has no route to the pods.
 */
export async function masqueradeOutsideCluster(ns: NodeNamespace, podCidr: string): Promise<void> {
  await ns.exec([
    'iptables',
    '-t',
    'nat',
    '-A',
    'POSTROUTING',
    '-s',
    podCidr,
    '!',
    '-d',
    CLUSTER_CIDR,
    '-j',
    'MASQUERADE',
  ]);
}

export interface LinkEnd {
  index: number;
  namespace: NodeNamespace;
  podCidr: string;
}

/** The /30 of the link between nodes i < j: 10.201.i.(4j) — private to the two namespaces, unseen by the host. */
export function linkAddresses(i: number, j: number): [string, string] {
  if (!(i >= 0 && i < j && j < 64)) throw new Error(`no link subnet for nodes ${i} and ${j}`);
  return [`10.201.${i}.${4 * j + 1}`, `10.201.${i}.${4 * j + 2}`];
}

/**
 * A veth pair straight between two nodes' namespaces, with routes to the other's pods and node address over it:
 * pod-to-pod traffic between nodes, and pods' and the node's ways to the other node's relays, never touch the host
 * (no forwarding, route or rule there). Both ends go with either namespace.
 */
export async function linkNodes(a: LinkEnd, b: LinkEnd): Promise<void> {
  if (a.index > b.index) return linkNodes(b, a);
  const [addrA, addrB] = linkAddresses(a.index, b.index);
  const [ifA, ifB] = [`node${b.index}`, `node${a.index}`];
  await a.namespace.exec([
    'ip',
    'link',
    'add',
    ifA,
    'type',
    'veth',
    'peer',
    'name',
    ifB,
    'netns',
    String(b.namespace.holderPid),
  ]);
  for (const [end, iface, addr, peer, other] of [
    [a, ifA, addrA, addrB, b],
    [b, ifB, addrB, addrA, a],
  ] as const) {
    await end.namespace.exec(['ip', 'addr', 'add', `${addr}/30`, 'dev', iface]);
    await end.namespace.exec(['ip', 'link', 'set', iface, 'up']);
    await end.namespace.exec(['ip', 'route', 'add', other.podCidr, 'via', peer]);
    await end.namespace.exec(['ip', 'route', 'add', `${other.namespace.nodeAddress}/32`, 'via', peer]);
    // The namespace's own setting (a new network namespace starts with forwarding off): pods' traffic passes through.
    await end.namespace.exec(['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
  }
}
