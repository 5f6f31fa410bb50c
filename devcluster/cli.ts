/**
 * `npm run dev -- up`     builds what is missing, starts the local platform in the background, writes .dev/env
 * `npm run dev -- down`   stops it
 * `npm run dev -- status` / `build`
 */
import { join } from 'node:path';
import { buildMissingBinaries, devStateDir, ensurePlatformUp, runningPid, stopPlatform } from './dev-instance.ts';

async function up(): Promise<void> {
  const env = await ensurePlatformUp();
  console.log(`  kube-apiserver  KUBECONFIG=${env.kubeconfig}`);
  console.log(`  chain           ${env.rpcUrl} (chain id ${env.chainId})`);
  console.log(`  object store    ${env.s3.endpoint} bucket ${env.s3.bucket}`);
  console.log(`  kn              ${env.kn}`);
  console.log(`source ${join(devStateDir, 'env')} to use it; npm run dev -- down stops it`);
}

const actions: Record<string, () => Promise<void>> = {
  up,
  down: async () => console.log((await stopPlatform()) ? 'platform stopped' : 'platform is not running'),
  status: async () => {
    const pid = runningPid();
    console.log(pid ? `running (pid ${pid}), env in ${join(devStateDir, 'env')}` : 'not running');
  },
  build: async () => buildMissingBinaries(),
};
const command = process.argv[2];
const action = command ? actions[command] : undefined;
if (!action) {
  console.error('usage: npm run dev -- up | down | status | build');
  process.exit(2);
}
action().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
