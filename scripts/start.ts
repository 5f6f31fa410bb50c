/**
 * `npm start`: the platform with the real node and Knative Serving, in a state directory of its own; every function
 * deployed by knative/deploy.sh behind the one provider URL, and the engine as its Deployment (manifests/engine.yaml);
 * in the foreground until Ctrl-C, which stops all of it. Needs root (kubelet, containerd).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProviderPlatform, type ProviderPlatform } from '../devcluster/knative/provider-platform.ts';
import { toShellEnv } from '../devcluster/platform-env.ts';
import { writeEnvFiles } from '../devcluster/platform.ts';

const t0 = Date.now();
const stateDir = mkdtempSync(join(tmpdir(), 'c2d-start-'));
const say = (m: string): void => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)} s] ${m}`);
let running: ProviderPlatform | undefined;
let stopping = false;

async function shutdown(code: number): Promise<never> {
  stopping = true;
  if (running) {
    console.log('stopping the provider and the platform…');
    await running.stop().catch((err: unknown) => console.error(`stopping failed: ${(err as Error).message}`));
  }
  if (!process.env.C2D_KEEP_STATE) rmSync(stateDir, { recursive: true, force: true });
  process.exit(code);
}
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.on(signal, () => {
    // During the start, the platform stops once what is being started is up (startProviderPlatform has no cancel).
    if (!running) console.log('stopping as soon as the start is done…');
    stopping = true;
    if (running) void shutdown(0);
  });

say(`starting the platform (real node, Knative Serving, Traefik) in ${stateDir}`);
try {
  running = await startProviderPlatform(stateDir, say);
} catch (err) {
  console.error(`npm start failed: ${err instanceof Error ? err.message : err}`);
  await shutdown(1);
}
if (stopping) await shutdown(0);
const { platform, providerUrl, environmentId } = running!;
writeEnvFiles(platform.env, toShellEnv);
console.log(`
provider URL: ${providerUrl}   (up ${((Date.now() - t0) / 1000).toFixed(1)} s after start)
  every function its own Knative Service in ${platform.env.namespaces.system}, the engine the Deployment c2d-engine there
  compute environment: ${environmentId}; chain ${platform.env.rpcUrl} (chain id ${platform.env.chainId})
  source ${join(stateDir, 'env')} for KUBECONFIG, RPC_URL, the test keys and contract addresses
  logs: ${join(stateDir, 'logs')}; the pods' through the API server (kubectl -n ${platform.env.namespaces.system} logs deploy/c2d-engine)
Ctrl-C stops everything.`);
// The platform's processes are children of this one; it idles here until a signal ends it.
setInterval(() => undefined, 1 << 30);
