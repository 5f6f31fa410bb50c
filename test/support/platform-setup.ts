import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { missingBinaries } from '../../devcluster/binaries.ts';
import type { PlatformEnv } from '../../devcluster/platform-env.ts';
import type { NodeKind } from '../../devcluster/control-plane.ts';
import { startPlatform } from '../../devcluster/platform.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    platform: PlatformEnv;
  }
}

/**
 * The node the integration run's platform has: the bwrap local node (the default), or with C2D_INTEGRATION_NODE=real
 * the kubelet + containerd node (issue 12: the integration suite run on it, ahead of making it the default).
 */
function integrationNode(): NodeKind {
  const kind = process.env.C2D_INTEGRATION_NODE ?? 'local';
  if (kind !== 'local' && kind !== 'real') throw new Error(`C2D_INTEGRATION_NODE must be local or real, not ${kind}`);
  return kind;
}

/** Starts one real platform (its own ports and state) for the integration run, and stops it at the end. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const missing = missingBinaries();
  if (missing.length)
    throw new Error(`dev cluster binaries missing: ${missing.join(', ')}; run \`npm run dev -- build\``);
  const stateDir = mkdtempSync(join(tmpdir(), 'c2d-it-'));
  const platform = await startPlatform(stateDir, (m) => console.log(`[platform] ${m}`), { node: integrationNode() });
  project.provide('platform', platform.env);
  return async () => {
    await platform.stop();
    if (!process.env.C2D_KEEP_STATE) rmSync(stateDir, { recursive: true, force: true });
  };
}
