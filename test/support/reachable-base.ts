import { join } from 'node:path';
import type { PlatformEnv } from '../../devcluster/platform-env.ts';
import { servePublicly } from '../../devcluster/real-node/public-address.ts';

export interface ReachableBase {
  /** The base URL (`http://host[:port]`, no trailing slash) that the functions and the job pods both reach. */
  base: string;
  stop(): Promise<void>;
}

/**
 * Where a test's file server on 127.0.0.1:`port` is reachable from the functions and from the configure pods alike:
 * on the real node a public address of the node's namespace (real-node/public-address.ts), where the pods'
 * NetworkPolicy lets them fetch; without a platform, or on the bwrap node, 127.0.0.1 itself.
 */
export async function reachableBase(env: PlatformEnv | undefined, port: number): Promise<ReachableBase> {
  if (!env?.nodeLink) return { base: `http://127.0.0.1:${port}`, stop: async () => undefined };
  const served = await servePublicly(env.nodeLink, {
    hostPort: port,
    stateDir: env.stateDir,
    logDir: join(env.stateDir, 'logs'),
  });
  return { base: served.url, stop: served.stop };
}
