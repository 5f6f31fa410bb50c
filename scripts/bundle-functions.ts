/**
 * Bundles every function for its container image (docker/functions.Dockerfile): one ESM module per function at
 * OUTDIR/<name>/index.js, code split at the dynamic imports (what a function loads on first use, such as the
 * Kubernetes client or the S3 SDK, stays out of its start-up), shared chunks under OUTDIR/chunks/.
 *
 * Why: loading @kubernetes/client-node from its ~3,000 ESM files costs a function most of its start-up time and
 * memory; bundled, it is a fraction of that (figures in the README, from `npm run bench -- functions`).
 * functions-framework stays outside: the bundle registers its target with the framework instance that loads it.
 *
 *   npx tsx scripts/bundle-functions.ts [OUTDIR]      (default dist/bundle/functions)
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { build, type Plugin } from 'esbuild';
import { FUNCTION_NAMES } from '../lib/api/endpoints.ts';

/**
 * The models the functions' Kubernetes calls send and receive (CoreV1Api: config maps, secrets, pods, delete
 * options and status; CoordinationV1Api: start's provider transaction Lease). test/unit/images/bundle.test.ts checks
 * that every CoreV1Api and CoordinationV1Api method lib/ and functions/ call sends and answers only types reachable
 * from these.
 */
export const SERIALIZED_MODELS = [
  'V1Lease',
  'V1ConfigMap',
  'V1ConfigMapList',
  'V1Secret',
  'V1Pod',
  'V1DeleteOptions',
  'V1Status',
] as const;

/** `roots` and every model their attributes name, transitively, read from client-node's generated model files. */
export function modelClosure(modelsDir: string, roots: readonly string[] = SERIALIZED_MODELS): Set<string> {
  const seen = new Set<string>();
  const todo = [...roots];
  while (todo.length > 0) {
    const type = todo.pop()!;
    if (seen.has(type)) continue;
    let source: string;
    try {
      source = readFileSync(join(modelsDir, `${type}.js`), 'utf8');
    } catch {
      continue; // a primitive or a map/array wrapper's word, not a model
    }
    seen.add(type);
    for (const m of source.matchAll(/"type":\s*"([^"]+)"/g)) {
      for (const word of m[1]!.match(/\b[A-Z][A-Za-z0-9]*\b/g) ?? [])
        if (word !== 'Array' && word !== 'Date') todo.push(word);
    }
  }
  return seen;
}

/**
 * client-node's ObjectSerializer imports all ~700 generated models and lists them in one type map, so any use of the
 * client keeps them all: measured, 22 MiB and 110–155 ms of a function's start. This rewrites that one generated
 * file at bundle time to import and map only `modelClosure()`; every type the functions' calls use is still
 * (de)serialized exactly as before, and a type outside the map would pass through as plain JSON, as the serializer
 * does for any type it does not know. client-node's modules are marked free of side effects so that the models
 * nothing imports any more are dropped. Fails the build if the generated file's shape is not the one expected.
 */
export function slimKubernetesModels(): Plugin {
  return {
    name: 'slim-kubernetes-models',
    setup(b) {
      b.onResolve({ filter: /.*/ }, async (args) => {
        if (args.pluginData === 'slim-kubernetes-models') return undefined;
        if (!args.importer.includes('@kubernetes') && !args.path.startsWith('@kubernetes/client-node'))
          return undefined;
        const resolved = await b.resolve(args.path, {
          kind: args.kind,
          resolveDir: args.resolveDir,
          importer: args.importer,
          pluginData: 'slim-kubernetes-models',
        });
        if (
          resolved.errors.length > 0 ||
          resolved.external ||
          !/@kubernetes[\\/]client-node[\\/]dist[\\/]/.test(resolved.path)
        )
          return undefined;
        return { path: resolved.path, sideEffects: false };
      });
      b.onLoad(
        { filter: /@kubernetes[\\/]client-node[\\/]dist[\\/]gen[\\/]models[\\/]ObjectSerializer\.js$/ },
        (args) => {
          const keep = modelClosure(dirname(args.path));
          return { contents: slimObjectSerializer(readFileSync(args.path, 'utf8'), keep, args.path), loader: 'js' };
        },
      );
    },
  };
}

/** The generated ObjectSerializer source with only `keep`'s imports and type-map entries (and no re-exports). */
export function slimObjectSerializer(source: string, keep: ReadonlySet<string>, file = 'ObjectSerializer.js'): string {
  const out: string[] = [];
  let inTypeMap = false;
  let imports = 0;
  let entries = 0;
  for (const line of source.split('\n')) {
    if (line.startsWith('export * from ')) continue;
    const imported = /^import \{ (\w+) \} from '\.\.\/models\/\w+\.js';$/.exec(line);
    if (imported) {
      imports += 1;
      if (keep.has(imported[1]!)) out.push(line);
      continue;
    }
    if (line.startsWith('let typeMap = {')) inTypeMap = true;
    else if (inTypeMap && line === '};') inTypeMap = false;
    else if (inTypeMap) {
      const entry = /^\s+"(\w+)": (\w+),?$/.exec(line);
      if (!entry) throw new Error(`${file}: unexpected line in typeMap: ${line}`);
      entries += 1;
      if (!keep.has(entry[2]!)) continue;
    }
    out.push(line);
  }
  if (imports < keep.size || entries < keep.size) {
    throw new Error(
      `${file}: found ${imports} model imports and ${entries} typeMap entries, fewer than the ${keep.size} to keep`,
    );
  }
  return out.join('\n');
}

export async function bundleFunctions(names: readonly string[], outdir: string): Promise<void> {
  await build({
    entryPoints: names.map((name) => ({ in: `functions/${name}/index.ts`, out: `${name}/index` })),
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node24',
    minifySyntax: true,
    minifyIdentifiers: true,
    chunkNames: 'chunks/[name]-[hash]',
    external: ['@google-cloud/functions-framework'],
    plugins: [slimKubernetesModels()],
    // CommonJS dependencies inside an ESM bundle still call require() for Node's built-ins.
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module';\nconst require = __createRequire(import.meta.url);",
    },
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
