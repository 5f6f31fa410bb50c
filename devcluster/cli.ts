/**
 * `npm run dev -- up`     builds what is missing, starts the local platform in the background, writes .dev/env
 *                        (`--nodes 2`: with two kubelet + containerd nodes)
 * `npm run dev -- down`   stops it
 * `npm run dev -- status` / `build`
 */
import { join } from 'node:path';
import { parseUpArgs } from './up-args.ts';
import { buildMissingBinaries, devStateDir, ensurePlatformUp, runningPid, stopPlatform } from './dev-instance.ts';

const UP_USAGE = 'usage: npm run dev -- up [--nodes N]';

async function up(args: string[]): Promise<void> {
  const parsed = parseUpArgs(args);
  if (!parsed) throw new Error(UP_USAGE);
  const env = await ensurePlatformUp(console.log, parsed.nodes);
  console.log(`  kube-apiserver  KUBECONFIG=${env.kubeconfig}`);
  console.log(`  chain           ${env.rpcUrl} (chain id ${env.chainId})`);
  console.log(`  object store    ${env.s3.endpoint} bucket ${env.s3.bucket}`);
  console.log(`  kn              ${env.kn}`);
  console.log(`source ${join(devStateDir, 'env')} to use it; npm run dev -- down stops it`);
}

const actions: Record<string, (args: string[]) => Promise<void>> = {
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
  console.error('usage: npm run dev -- up [--nodes N] | down | status | build');
  process.exit(2);
}
action(process.argv.slice(3)).catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
