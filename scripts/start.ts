/**
 * `npm start`: the local platform (started in the background if it is not running), the engine and every
 * function behind one gateway URL, in the foreground until Ctrl-C. The platform keeps running afterwards;
 * `npm run dev -- down` stops it.
 */
import { ensurePlatformUp } from '../devcluster/dev-instance.ts';
import { startLocalStack } from '../devcluster/local-stack.ts';

const env = await ensurePlatformUp();
const stack = await startLocalStack(env, { gatewayPort: process.env.PORT ? Number(process.env.PORT) : 8030 });
console.log(`provider URL: ${stack.providerUrl}`);
console.log(`compute environment: ${stack.environmentId}; engine metrics: ${stack.engineMetricsUrl}/metrics`);
console.log(`logs: ${env.stateDir}/logs/{engine,gateway}.log — Ctrl-C stops the engine and the gateway`);
const shutdown = async (): Promise<void> => {
  await stack.stop();
  process.exit(0);
};
process.on('SIGINT', () => void shutdown());
process.on('SIGTERM', () => void shutdown());
await Promise.race(
  stack.processes.map(async (p) => {
    const code = await p.exited;
    console.error(`${p.name} exited (${code}); see ${p.logFile}`);
    await stack.stop();
    process.exit(1);
  }),
);
