import { mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

/** The programs the pod-programs image puts on PATH (docker/pod-programs.Dockerfile); no other name runs. */
export const POD_PROGRAMS = ['configure', 'publish', 'await-isolation'] as const;

/**
 * Where the compiled pod programs live: inside the project's node_modules, so that the packages they import (left
 * external) resolve from there exactly as they would from /app/node_modules in the image.
 */
function podProgramsDir(projectRoot: string): string {
  return join(projectRoot, 'node_modules', '.cache', 'c2d-pod-programs');
}

export function podProgramPath(projectRoot: string, program: string): string {
  return join(podProgramsDir(projectRoot), `${program}.mjs`);
}

/**
 * Compiles each pod program and the project code it imports into one JavaScript module, as the image's build stage
 * does, so a pod starts plain `node` on JavaScript instead of compiling TypeScript on every start. Each file
 * replaces the previous one atomically: several local nodes may build at once.
 */
export async function buildPodPrograms(projectRoot: string): Promise<void> {
  const dir = podProgramsDir(projectRoot);
  mkdirSync(dir, { recursive: true });
  const staging = mkdtempSync(join(dir, '.build-'));
  try {
    await build({
      entryPoints: POD_PROGRAMS.map((p) => join(projectRoot, 'engine', 'pods', `${p}.ts`)),
      outdir: staging,
      outExtension: { '.js': '.mjs' },
      bundle: true,
      packages: 'external',
      platform: 'node',
      format: 'esm',
      target: 'node24',
      logLevel: 'error',
    });
    for (const p of POD_PROGRAMS) renameSync(join(staging, `${p}.mjs`), podProgramPath(projectRoot, p));
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}
