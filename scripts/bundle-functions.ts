/**
 * Bundles every function for its container image (docker/functions.Dockerfile): one ESM module per function at
 * OUTDIR/<name>/index.js, code split at the dynamic imports (what a function loads on first use, such as the
 * Kubernetes client or the S3 SDK, stays out of its start-up), shared chunks under OUTDIR/chunks/.
 *
 * Why: loading @kubernetes/client-node from its ~3,000 ESM files costs a function most of its start-up time and
 * memory; bundled and tree-shaken to the parts lib/kube/api.ts names, it is a fraction of that (figures in the
 * README, from `npm run bench -- functions`). functions-framework stays outside: the bundle registers its target
 * with the framework instance that loads it. Whitespace is kept so that every import stays on a line of its own,
 * which the image check's import scan reads (scripts/images/probes.ts).
 *
 *   npx tsx scripts/bundle-functions.ts [OUTDIR]      (default dist/bundle/functions)
 */
import { build } from 'esbuild';
import { FUNCTION_NAMES } from '../lib/api/endpoints.ts';

export async function bundleFunctions(names: readonly string[], outdir: string): Promise<void> {
  await build({
    entryPoints: names.map((name) => ({ in: `functions/${name}/index.ts`, out: `${name}/index` })),
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    minifySyntax: true,
    minifyIdentifiers: true,
    chunkNames: 'chunks/[name]-[hash]',
    external: ['@google-cloud/functions-framework'],
    // CommonJS dependencies inside an ESM bundle still call require() for Node's built-ins.
    banner: { js: "import { createRequire as __createRequire } from 'node:module';\nconst require = __createRequire(import.meta.url);" },
    legalComments: 'none',
    logLevel: 'warning',
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const outdir = process.argv[2] ?? 'dist/bundle/functions';
  const t0 = performance.now();
  await bundleFunctions(FUNCTION_NAMES, outdir);
  console.log(`bundled ${FUNCTION_NAMES.length} functions into ${outdir} in ${Math.round(performance.now() - t0)} ms`);
}
