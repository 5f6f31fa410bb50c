import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProviderPlatform } from '../devcluster/knative/provider-platform.ts';
import type { PlatformEnv } from '../devcluster/platform-env.ts';
import { startPublicFileServer } from '../devcluster/real-node/public-file-server.ts';
import { filesChecksumOf } from '../lib/access/algo-checksums.ts';
import type { Environment } from '../lib/job/environments.ts';
import { SENSOR_STATS_ALGORITHM, sensorCsv } from './demo-assets.ts';

/** Where the publisher's files are served: an address of TEST-NET-3, public to the cluster (public-file-server.ts). */
const PUBLISHER_FILES_ADDRESS = '203.0.113.40';
const ALGORITHM_IMAGE = 'docker.io/library/node:24';

export interface DemoProvider {
  env: PlatformEnv;
  providerUrl: string;
  environmentId: string;
  /** The URL of one of the publisher's files: `sensors.csv` (the dataset) or `sensor-stats.js` (the algorithm). */
  fileUrl(name: 'sensors.csv' | 'sensor-stats.js'): string;
  /** The algorithm's container section: node:24 pinned by the digest the node has it under. */
  container: { entrypoint: string; image: string; tag: string; checksum: string };
  /** The algorithm's filesChecksum, from the file the publisher holds (sha256 of its content). */
  algorithmFilesChecksum: string;
  stop(): Promise<void>;
}

/**
 * The demos' provider: the platform with the real node and Knative (startProviderPlatform) in a temporary state
 * directory, and the publisher's files on a public address the cluster reaches. Ctrl-C (or SIGTERM) stops it all.
 * The state directory is removed after a clean stop, and kept (its path printed) when the start failed.
 */
export async function startDemoProvider(
  say: (m: string) => void,
  environment: Partial<Environment>,
): Promise<DemoProvider> {
  const stateDir = mkdtempSync(join(tmpdir(), 'c2d-demo-'));
  let stop: (() => Promise<void>) | undefined;
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.on(signal, () => {
      console.error(`\n${signal}: stopping the platform…`);
      void (stop?.() ?? Promise.resolve()).finally(() => process.exit(130));
    });
  let running;
  try {
    running = await startProviderPlatform(stateDir, say, { environment });
  } catch (err) {
    console.error(`the platform's state and logs are kept in ${stateDir}`);
    throw err;
  }
  const provider = running;
  let files: Awaited<ReturnType<typeof startPublicFileServer>> | undefined;
  stop = async () => {
    stop = undefined;
    await files?.stop();
    await provider.stop();
    if (!process.env.C2D_KEEP_STATE) rmSync(stateDir, { recursive: true, force: true });
  };
  try {
    const ns = provider.platform.realNode!.namespace;
    files = await startPublicFileServer(ns, stateDir, PUBLISHER_FILES_ADDRESS, {
      'sensors.csv': sensorCsv(),
      'sensor-stats.js': SENSOR_STATS_ALGORITHM,
    });
    const served = files;
    const [repo, tag] = ALGORITHM_IMAGE.replace('docker.io/library/', '').split(':') as [string, string];
    return {
      env: provider.platform.env,
      providerUrl: provider.providerUrl,
      environmentId: provider.environmentId,
      fileUrl: (name) => served.url(name),
      container: {
        entrypoint: 'node $ALGO',
        image: repo,
        tag,
        checksum: provider.platform.env.algorithmImages['node:24']!,
      },
      algorithmFilesChecksum: filesChecksumOf([createHash('sha256').update(SENSOR_STATS_ALGORITHM).digest('hex')]),
      stop: () => stop?.() ?? Promise.resolve(),
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
