import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { missingBinaries, nodeBinaryPaths } from '../../devcluster/binaries.ts';
import type { PlatformEnv } from '../../devcluster/platform-env.ts';
import { startPlatform } from '../../devcluster/platform.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    platform: PlatformEnv;
  }
}

/**
 * Starts one real platform (its own ports and state, a kubelet + containerd node) for the integration run, and stops it
 * at the end. It needs root and the node's builds (`bash scripts/ensure-deps.sh`, which `npm test` runs first).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const missing = [...missingBinaries(), ...missingBinaries(nodeBinaryPaths())];
  if (missing.length)
    throw new Error(`dev cluster binaries missing: ${missing.join(', ')}; run \`npm run dev -- build\``);
  const stateDir = mkdtempSync(join(tmpdir(), 'c2d-it-'));
  const platform = await startPlatform(stateDir, (m) => console.log(`[platform] ${m}`));
  project.provide('platform', platform.env);
  return async () => {
    await platform.stop();
    if (!process.env.C2D_KEEP_STATE) rmSync(stateDir, { recursive: true, force: true });
  };
}
