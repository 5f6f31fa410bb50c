/**
 * The functions as one esbuild bundle each (ESM, minified, code split at the dynamic imports so that what a function
 * loads on first use stays out of its start-up), for the benchmark to compare with the compiled JS the image holds
 * today. Loading @kubernetes/client-node from its ~3,000 ESM files costs a function most of its start-up time and
 * memory; bundled and tree-shaken to the parts lib/kube/api.ts names, it is a fraction of that.
 *
 * Not the image build (docker/functions.Dockerfile runs tsc); to ship it, the image would run this after tsc and set
 * FUNCTION_SOURCE to the bundle. esbuild comes with tsx here; the image build would list it as a devDependency.
 * functions-framework stays outside: the bundle registers with the framework instance that loads it.
 */
import { build } from 'esbuild';

export async function bundleFunctions(names: readonly string[], outdir: string): Promise<void> {
  await build({
    entryPoints: names.map((name) => ({ in: `functions/${name}/index.ts`, out: `${name}/index` })),
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    minify: true,
    chunkNames: 'chunks/[name]-[hash]',
    external: ['@google-cloud/functions-framework'],
    // CommonJS dependencies inside an ESM bundle still call require() for Node's built-ins.
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    legalComments: 'none',
    logLevel: 'warning',
  });
}
