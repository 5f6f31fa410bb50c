import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startHostRelay } from './api-relay.ts';
import { joinNodeNamespace, type NodeLink } from './node-namespace.ts';

const run = promisify(execFile);

/**
 * TEST-NET-3 (RFC 5737): addresses every address policy treats as public (so configure pods' NetworkPolicy lets them
 * fetch from it, on port 80) and that are routed nowhere on the internet.
 */
const PUBLIC_PREFIX = '203.0.113.';
// .1–.99 are left to tests that place servers of their own there (test/support/knative.ts).
const FIRST = 100;
const LAST = 254;

export interface PublicAddress {
  /** `http://203.0.113.N`: the same address for the host's processes and for the node's pods. */
  url: string;
  address: string;
  stop(): Promise<void>;
}

/**
 * Serves a host service (`127.0.0.1:hostPort`) on a public address's port 80 inside the node's namespace, where pods
 * reach it, and routes that one address from the host to the node (a /32 through the node's link, which goes with
 * the link when the node stops), so the functions on the host fetch the same URL the configure pods do. The address
 * is one no other instance has taken: the host route is the claim.
 */
export async function servePublicly(
  link: NodeLink,
  opts: { hostPort: number; stateDir: string; logDir: string },
): Promise<PublicAddress> {
  const ns = joinNodeNamespace(link);
  const start = FIRST + Math.floor(Math.random() * (LAST - FIRST + 1));
  for (let i = 0; i <= LAST - FIRST; i++) {
    const address = `${PUBLIC_PREFIX}${FIRST + ((start - FIRST + i) % (LAST - FIRST + 1))}`;
    try {
      await run('ip', ['route', 'add', `${address}/32`, 'via', link.nodeAddress, 'dev', link.hostLink]);
    } catch (err) {
      if (/File exists/.test((err as { stderr?: string }).stderr ?? '')) continue;
      throw err;
    }
    const unroute = (): Promise<unknown> =>
      run('ip', ['route', 'del', `${address}/32`, 'dev', link.hostLink]).catch(() => undefined);
    try {
      await ns.exec(['ip', 'addr', 'add', `${address}/32`, 'dev', 'lo']);
      const relay = await startHostRelay(ns, {
        name: `public-${address}`,
        hostPort: opts.hostPort,
        listen: `80,bind=${address}`,
        probe: `${address}/80`,
        stateDir: opts.stateDir,
        logDir: opts.logDir,
      });
      return {
        url: `http://${address}`,
        address,
        stop: async () => {
          await Promise.all(relay.map((p) => p.stop()));
          await ns.exec(['ip', 'addr', 'del', `${address}/32`, 'dev', 'lo']).catch(() => undefined);
          await unroute();
        },
      };
    } catch (err) {
      await ns.exec(['ip', 'addr', 'del', `${address}/32`, 'dev', 'lo']).catch(() => undefined);
      await unroute();
      throw err;
    }
  }
  throw new Error(`no free address in ${PUBLIC_PREFIX}${FIRST}-${LAST} to serve port ${opts.hostPort} on`);
}
