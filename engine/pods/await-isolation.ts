import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { ConfigurationError, Env, type EnvVars } from '../../lib/env.ts';
import { isMain } from './is-main.ts';
import { ProgramLog } from './program-log.ts';

/**
 * The algorithm pod's init container: it holds the algorithm back until the pod's NetworkPolicy is in force.
 *
 * A NetworkPolicy enforcer learns of a pod's address from the API server after the pod's sandbox exists, so a pod's
 * first seconds can run before its rules do (kube-router: about 3 s, measured). An init container shares the pod's
 * network namespace and address, so the rules that will hold the algorithm hold it too: it tries to reach targets
 * that always listen and that the policies never allow an algorithm to reach, and exits 0 once none answers. The
 * enforcers apply a pod's rules in one step (kube-router writes the whole filter table with one iptables-restore),
 * so once one target is refused by the policy, every other rule of the pod is in force as well. If isolation never
 * comes within C2D_ISOLATION_TIMEOUT_MS it exits 1: the pod fails before the algorithm ever runs.
 *
 * The targets: the node's kubelet (C2D_NODE_IP, from status.hostIP; C2D_KUBELET_PORT, 10250) always; for an algorithm without
 * network (C2D_ISOLATION=all) also the API server (KUBERNETES_SERVICE_HOST/PORT, which kubelet sets in every pod)
 * and the cluster DNS servers of /etc/resolv.conf over TCP. An algorithm with network keeps DNS, and the API server
 * may sit on a public address the policy allows, so only the node is probed for it.
 */

export const KUBELET_PORT = 10250;
const DNS_PORT = 53;

export interface Target {
  name: string;
  host: string;
  port: number;
}

/** The nameserver addresses of a resolv.conf. */
export function nameservers(resolvConf: string): string[] {
  return resolvConf
    .split('\n')
    .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
    .filter((a): a is string => Boolean(a));
}

/** What must be unreachable before the algorithm starts, from the container's environment and resolv.conf. */
export function isolationTargets(vars: EnvVars, resolvConf: string): Target[] {
  const env = new Env(vars);
  const scope = env.string('C2D_ISOLATION');
  if (scope !== 'all' && scope !== 'cluster')
    throw new ConfigurationError('C2D_ISOLATION', 'must be "all" or "cluster"');
  const targets: Target[] = [
    {
      name: 'the node (kubelet)',
      host: env.string('C2D_NODE_IP'),
      port: env.int('C2D_KUBELET_PORT', KUBELET_PORT, { max: 65535 }),
    },
  ];
  if (scope === 'all') {
    const apiHost = env.optional('KUBERNETES_SERVICE_HOST');
    const apiPort = env.optionalInt('KUBERNETES_SERVICE_PORT', { max: 65535 });
    if (apiHost && apiPort) targets.push({ name: 'the API server', host: apiHost, port: apiPort });
    for (const ns of nameservers(resolvConf)) targets.push({ name: `DNS ${ns}`, host: ns, port: DNS_PORT });
  }
  return targets;
}

/** Whether a TCP connection to the target opens within the timeout. A refusal, an ICMP error or silence: no. */
export function reaches(target: Target, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: target.host, port: target.port });
    const done = (reached: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(reached);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export interface AwaitOptions {
  timeoutMs: number;
  probeTimeoutMs: number;
  intervalMs: number;
  probe?: (t: Target, timeoutMs: number) => Promise<boolean>;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export type AwaitResult = { isolated: true; afterMs: number; rounds: number } | { isolated: false; reached: Target[] };

/** Probes every target each round until none is reached, or the time is up. */
export async function awaitIsolation(targets: Target[], o: AwaitOptions): Promise<AwaitResult> {
  const probe = o.probe ?? reaches;
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const start = now();
  for (let rounds = 1; ; rounds++) {
    const results = await Promise.all(targets.map((t) => probe(t, o.probeTimeoutMs)));
    const reached = targets.filter((_, i) => results[i]);
    if (!reached.length) return { isolated: true, afterMs: now() - start, rounds };
    if (now() - start + o.intervalMs >= o.timeoutMs) return { isolated: false, reached };
    await sleep(o.intervalMs);
  }
}

export async function runAwaitIsolation(vars: EnvVars): Promise<number> {
  const log = new ProgramLog();
  let resolvConf = '';
  try {
    resolvConf = readFileSync('/etc/resolv.conf', 'utf8');
  } catch {
    // No resolver configured: no DNS target.
  }
  let targets: Target[];
  let timeoutMs: number;
  try {
    targets = isolationTargets(vars, resolvConf);
    timeoutMs = new Env(vars).int('C2D_ISOLATION_TIMEOUT_MS', 60_000);
  } catch (err) {
    log.info(`await-isolation: ${(err as Error).message}`);
    return 1;
  }
  log.info(
    `await-isolation: waiting until none answers: ${targets.map((t) => `${t.name} ${t.host}:${t.port}`).join(', ')}`,
  );
  const result = await awaitIsolation(targets, { timeoutMs, probeTimeoutMs: 1000, intervalMs: 100 });
  if (result.isolated) {
    log.info(`await-isolation: network policy in force after ${result.afterMs} ms (${result.rounds} rounds)`);
    return 0;
  }
  log.info(
    `await-isolation: the pod's network policy was not in force within ${timeoutMs} ms; still reachable: ${result.reached.map((t) => t.name).join(', ')}. The algorithm does not run.`,
  );
  return 1;
}

if (isMain(import.meta.url)) {
  process.exitCode = await runAwaitIsolation(process.env);
}
