import type { Environment } from '../../lib/job/environments.ts';
import { startPlatform, type Platform } from '../platform.ts';
import { deployEngine, type EngineDeployment } from './engine-deployment.ts';
import { deployProvider, type ProviderDeployment } from './provider.ts';

export interface ProviderPlatform {
  platform: Platform;
  provider: ProviderDeployment;
  engine: EngineDeployment;
  /** The provider's one URL (Traefik's public entrypoint on the node's address). */
  providerUrl: string;
  environmentId: string;
  /** Stops everything: the chain relay, then the platform (the node, its pods, the control plane, chain and store). */
  stop(): Promise<void>;
}

export interface ProviderPlatformOptions {
  /** The local compute environment, changed. */
  environment?: Partial<Environment>;
  /** More `c2d-provider` settings. */
  settings?: Record<string, string>;
}

/**
 * What `npm start` and the demo run: the platform with the real node and Knative Serving, the provider deployed as a
 * publisher deploys it (every function by knative/deploy.sh behind one URL, deployProvider) and the engine as its
 * Deployment (deployEngine). Nothing of the provider runs on the host. On failure, what was started is stopped.
 */
export async function startProviderPlatform(
  stateDir: string,
  report: (m: string) => void,
  opts: ProviderPlatformOptions = {},
): Promise<ProviderPlatform> {
  if (process.getuid?.() !== 0) throw new Error('the real node (kubelet, containerd) needs root');
  const platform = await startPlatform(stateDir, report, { knative: true });
  let provider: ProviderDeployment | undefined;
  const stop = async (): Promise<void> => {
    await provider?.stop();
    await platform.stop();
  };
  try {
    provider = await deployProvider(platform, { report, ...(opts.settings && { settings: opts.settings }) });
    const engine = await deployEngine(platform, { report, ...(opts.environment && { environment: opts.environment }) });
    return { platform, provider, engine, providerUrl: provider.url, environmentId: engine.environmentId, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
