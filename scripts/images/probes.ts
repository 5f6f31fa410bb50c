import { Wallet } from 'ethers';
import { eciesDecrypt } from '../../lib/access/ecies.ts';
import { CONFIGURE_EXIT } from '../../lib/job/exit-codes.ts';
import type { Container, ReplayedImage, Replayer, RunOptions } from './replay.ts';

/**
 * What each replayed image must do to count as working (scripts/images/check.ts, test/integration/images.test.ts).
 * Every run sees only the final stage's files, as the image's USER, with no network but its own loopback; a check
 * throws with the container's output when the image falls short.
 */

export interface ImageCheck {
  name: string;
  /** Returns a one-line account of what was seen. */
  run(replayer: Replayer, image: ReplayedImage): Promise<string>;
}

export interface ImageSpec {
  name: 'functions' | 'engine' | 'pod-programs';
  dockerfile: string;
  checks: ImageCheck[];
}

const CHAIN_ID = '8996';
const MISSING_MODULE = /ERR_MODULE_NOT_FOUND|Cannot find (?:module|package)|ERR_UNSUPPORTED_DIR_IMPORT/;

class CheckFailed extends Error {
  override name = 'CheckFailed';
}

function tail(text: string, n = 30): string {
  return text.trimEnd().split('\n').slice(-n).join('\n');
}

function expect(cond: boolean, what: string, c?: Container): asserts cond {
  if (!cond) throw new CheckFailed(c ? `${what}; the container's output:\n${tail(c.output)}` : what);
}

/** Runs the container, gives it to `body`, and always stops it. */
async function withContainer<T>(
  replayer: Replayer,
  image: ReplayedImage,
  opts: RunOptions,
  body: (c: Container) => Promise<T>,
): Promise<T> {
  const c = await replayer.run(image, opts);
  try {
    return await body(c);
  } finally {
    await c.stop();
  }
}

/** Runs a command that should exit by itself; returns its exit code and output. */
async function runToExit(
  replayer: Replayer,
  image: ReplayedImage,
  opts: RunOptions,
  timeoutMs = 30_000,
): Promise<{ code: number | null; output: string; c: Container }> {
  return withContainer(replayer, image, opts, async (c) => {
    const { code } = await c.waitForExit(timeoutMs);
    return { code, output: c.output, c };
  });
}

function firstPort(image: ReplayedImage): number {
  const port = image.config.exposed.find((p) => p.protocol === 'tcp')?.port;
  if (port === undefined) throw new CheckFailed(`${image.dockerfile} exposes no TCP port`);
  return port;
}

/** Common to every image: the repository is out of sight, the code is read-only to USER, and USER is who runs. */
function isolation(): ImageCheck {
  return {
    name: 'runs as USER, without the repository, code read-only',
    async run(replayer, image) {
      const { uid, gid } = image.config.user;
      const probe = `${image.config.workdir}/package.json`;
      const { code, output, c } = await runToExit(replayer, image, {
        command: [
          '/bin/sh',
          '-c',
          'test -e "$1" && exit 10; test -e "$2" || exit 11; (: >> "$2") 2>/dev/null && exit 12; echo "$(id -u):$(id -g)"',
          'sh',
          replayer.context,
          probe,
        ],
      });
      expect(code !== 10, `the build context ${replayer.context} is visible inside the container`, c);
      expect(code !== 11, `${probe} is missing from the final stage`, c);
      expect(code !== 12, `${probe} is writable by the image's USER ${uid}:${gid}`, c);
      expect(code === 0 && output.trim() === `${uid}:${gid}`, `expected to run as ${uid}:${gid}, got exit ${code}`, c);
      return `uid:gid ${output.trim()}, ${replayer.context} not visible, ${probe} not writable`;
    },
  };
}

/**
 * Run inside the image: every import specifier in the compiled code, static or a dynamic import() of a string
 * literal (the lazily loaded modules the other checks may never reach), must resolve there: relative ones to a file,
 * package ones through the image's node_modules and the packages' exports. Type-only imports are gone from the JS.
 */
export const IMPORT_SCAN_SOURCE = `
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
const files = [];
const walk = (dir) => {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) walk(join(dir, e.name));
    else if (e.name.endsWith('.js')) files.push(join(dir, e.name));
  }
};
walk(process.argv[1]);
// Static imports and re-exports start a line in tsc's output (so comments are not read as imports); import() anywhere
// but on comment lines, where bundled libraries keep JSDoc types such as {import('../../types/dispatcher')} (undici).
const commentLine = /^[ \\t]*(?:\\/\\/|\\/\\*|\\*).*$/gm;
const re = /^[ \\t]*(?:import|export)\\b[^;'"]*?\\bfrom\\s*(['"])([^'"\\n]+)\\1|^[ \\t]*import\\s*(['"])([^'"\\n]+)\\3|\\bimport\\s*\\(\\s*(['"])([^'"\\n]+)\\5/gm;
const bad = [];
const packages = new Set();
let imports = 0;
for (const file of files) {
  for (const m of readFileSync(file, 'utf8').replace(commentLine, '').matchAll(re)) {
    const spec = m[2] ?? m[4] ?? m[6];
    imports++;
    try {
      if (spec.startsWith('.') || spec.startsWith('/')) {
        if (!statSync(resolve(dirname(file), spec)).isFile()) throw new Error('not a file');
      } else {
        import.meta.resolve(spec);
        if (!spec.startsWith('node:')) packages.add(spec);
      }
    } catch (err) {
      bad.push(file + ': ' + spec + ': ' + (err.code ?? err.message));
    }
  }
}
console.log(JSON.stringify({ files: files.length, imports, packages: [...packages].sort(), bad }));
`;

/** Common to every image: what the compiled code imports is in the image, including what it imports lazily. */
function importsResolve(): ImageCheck {
  return {
    name: 'every import in the compiled code, static or dynamic, resolves in the image',
    async run(replayer, image) {
      const dist = `${image.config.workdir}/dist`;
      const { code, output, c } = await runToExit(replayer, image, {
        command: ['node', '--input-type=module', '-e', IMPORT_SCAN_SOURCE, dist],
      });
      expect(code === 0, `the import scan failed with exit ${code}`, c);
      const result = JSON.parse(output.trim().split('\n').pop() ?? '{}') as {
        files: number;
        imports: number;
        packages: string[];
        bad: string[];
      };
      expect(result.files > 0, `no compiled modules under ${dist}`, c);
      expect(result.bad.length === 0, `imports that do not resolve in the image:\n${result.bad.join('\n')}`);
      return `${result.files} modules, ${result.imports} imports, packages: ${result.packages.join(', ')}`;
    },
  };
}

const functionsImage: ImageSpec = {
  name: 'functions',
  dockerfile: 'docker/functions.Dockerfile',
  checks: [
    isolation(),
    importsResolve(),
    {
      name: 'info: GET / answers with serviceEndpoints',
      async run(replayer, image) {
        const port = firstPort(image);
        expect(image.config.env.PORT === String(port), `PORT ${image.config.env.PORT} is not the EXPOSEd port ${port}`);
        const wallet = Wallet.createRandom();
        const provider = wallet.address;
        // What knative/info.yaml's c2d-provider ConfigMap gives it (docs/deploy.md): the public key is ocean.js 8.x's
        // nodePublicKey in GET /v2.
        const env = {
          FUNCTION_TARGET: 'info',
          FUNCTION_SOURCE: 'dist/functions/info/index.js',
          CHAIN_ID,
          PROVIDER_ADDRESS: provider,
          PROVIDER_PUBLIC_KEY: wallet.signingKey.publicKey,
        };
        return withContainer(replayer, image, { env }, async (c) => {
          const res = await c.request(port, '/');
          expect(res.status === 200, `GET / answered ${res.status}: ${res.body.slice(0, 300)}`, c);
          expect(res.contentType?.startsWith('application/json') ?? false, `GET / answered ${res.contentType}`, c);
          const body = JSON.parse(res.body) as {
            chainId?: unknown;
            providerAddress?: unknown;
            serviceEndpoints?: Record<string, unknown>;
          };
          const endpoints = Object.keys(body.serviceEndpoints ?? {});
          expect(endpoints.length > 0, 'the answer has no serviceEndpoints', c);
          expect(
            body.chainId === Number(CHAIN_ID) && body.providerAddress === provider,
            `unexpected chainId/providerAddress: ${res.body.slice(0, 300)}`,
            c,
          );
          return `200 on :${port}, ${endpoints.length} serviceEndpoints (${endpoints.join(', ')})`;
        });
      },
    },
    {
      name: 'encrypt: POST /api/services/encrypt gives a ciphertext the provider key opens',
      async run(replayer, image) {
        const port = firstPort(image);
        const wallet = Wallet.createRandom();
        const env = {
          FUNCTION_TARGET: 'encrypt',
          FUNCTION_SOURCE: 'dist/functions/encrypt/index.js',
          CHAIN_ID,
          PROVIDER_PUBLIC_KEY: wallet.signingKey.publicKey,
        };
        const plaintext = JSON.stringify({
          '@context': ['https://w3id.org/did/v1'],
          note: 'replayed image round trip',
        });
        return withContainer(replayer, image, { env }, async (c) => {
          const res = await c.request(port, `/api/services/encrypt?chainId=${CHAIN_ID}`, {
            method: 'POST',
            body: plaintext,
          });
          expect(res.status === 200, `POST /api/services/encrypt answered ${res.status}: ${res.body.slice(0, 300)}`, c);
          const opened = Buffer.from(eciesDecrypt(wallet.privateKey, res.body.trim())).toString('utf8');
          expect(opened === plaintext, 'the ciphertext does not decrypt to what was sent', c);
          return `200, ${res.body.trim().length} hex chars, decrypts to the ${plaintext.length}-byte body`;
        });
      },
    },
    {
      name: 'info without CHAIN_ID stops at startup naming the variable',
      async run(replayer, image) {
        const env = {
          FUNCTION_TARGET: 'info',
          FUNCTION_SOURCE: 'dist/functions/info/index.js',
          PROVIDER_ADDRESS: Wallet.createRandom().address,
          PROVIDER_PUBLIC_KEY: Wallet.createRandom().signingKey.publicKey,
        };
        const { code, output, c } = await runToExit(replayer, image, { env });
        expect(!MISSING_MODULE.test(output), 'a module is missing', c);
        expect(
          code !== 0 && /CHAIN_ID is required/.test(output),
          `expected a configuration error naming CHAIN_ID, got exit ${code}`,
          c,
        );
        return `exit ${code}: ${/configuration: CHAIN_ID[^\n"]*/.exec(output)?.[0] ?? ''}`;
      },
    },
  ],
};

const KUBECONFIG = JSON.stringify({
  apiVersion: 'v1',
  kind: 'Config',
  // Nothing listens there: the container's network namespace has only its own loopback.
  clusters: [{ name: 'unreachable', cluster: { server: 'https://127.0.0.1:6443', 'insecure-skip-tls-verify': true } }],
  users: [{ name: 'replay', user: { token: 'replay' } }],
  contexts: [{ name: 'replay', context: { cluster: 'unreachable', user: 'replay' } }],
  'current-context': 'replay',
});

const engineImage: ImageSpec = {
  name: 'engine',
  dockerfile: 'docker/engine.Dockerfile',
  checks: [
    isolation(),
    importsResolve(),
    {
      name: 'without configuration: loads every module, then names the missing setting',
      async run(replayer, image) {
        const { code, output, c } = await runToExit(replayer, image, {});
        expect(!MISSING_MODULE.test(output), 'a module is missing', c);
        expect(
          code !== 0 && /S3_ENDPOINT is not set/.test(output),
          `expected "S3_ENDPOINT is not set", got exit ${code}`,
          c,
        );
        return `exit ${code}: S3_ENDPOINT is not set`;
      },
    },
    {
      name: 'with an unreachable cluster: serves /healthz and /metrics, retries the lease, stops on SIGTERM',
      async run(replayer, image) {
        const port = firstPort(image);
        expect(
          image.config.env.METRICS_PORT === String(port),
          `METRICS_PORT ${image.config.env.METRICS_PORT} is not the EXPOSEd port ${port}`,
        );
        const env = {
          KUBECONFIG: '/var/run/c2d/kubeconfig',
          S3_ENDPOINT: 'http://127.0.0.1:9000',
          S3_BUCKET: 'results',
          S3_ACCESS_KEY_ID: 'replay',
          S3_SECRET_ACCESS_KEY: 'replay-secret',
          LEASE_DURATION_SECONDS: '2',
        };
        const volumes = [{ path: '/var/run/c2d', files: { kubeconfig: KUBECONFIG } }];
        const c = await replayer.run(image, { env, volumes });
        try {
          const health = await c.request(port, '/healthz');
          expect(
            health.status === 200 && health.body.trim() === 'ok',
            `/healthz answered ${health.status} ${health.body}`,
            c,
          );
          const metrics = await c.request(port, '/metrics');
          expect(metrics.status === 200 && metrics.body.length > 0, `/metrics answered ${metrics.status}`, c);
          const failed = await c.waitForOutput(/"msg":"lease update failed"[^\n]*/, 20_000);
          expect(
            /ECONNREFUSED|connect/i.test(failed[0]),
            `the lease failure is not a connection error: ${failed[0]}`,
            c,
          );
          expect(!MISSING_MODULE.test(c.output), 'a module is missing', c);
        } finally {
          const { code, signal } = await c.stop(10_000);
          expect(code === 0, `SIGTERM ended it with ${signal ?? `exit ${code}`} instead of a clean exit`, c);
        }
        return `/healthz ok and /metrics on :${port}; lease update failed: connection refused; SIGTERM → exit 0`;
      },
    },
  ],
};

const podProgramsImage: ImageSpec = {
  name: 'pod-programs',
  dockerfile: 'docker/pod-programs.Dockerfile',
  checks: [
    isolation(),
    importsResolve(),
    {
      name: 'configure and publish are executables on PATH',
      async run(replayer, image) {
        const { code, output, c } = await runToExit(replayer, image, {
          command: [
            '/bin/sh',
            '-c',
            'for p in configure publish await-isolation; do command -v "$p" && test -x "$(command -v "$p")" || exit 1; done',
          ],
        });
        expect(code === 0, 'configure or publish is not an executable on PATH', c);
        return output.trim().split('\n').join(', ');
      },
    },
    {
      name: 'configure without a job: its own "configuration unreadable" exit',
      async run(replayer, image) {
        const { uid, gid } = image.config.user;
        // The job volume the engine mounts at /data; no workflow or job Secret.
        const { code, output, c } = await runToExit(replayer, image, {
          command: ['configure'],
          volumes: [{ path: '/data', writable: true, uid, gid }],
        });
        expect(!MISSING_MODULE.test(output), 'a module is missing', c);
        expect(
          code === CONFIGURE_EXIT.dataFailed && /job configuration unreadable/.test(output),
          `expected exit ${CONFIGURE_EXIT.dataFailed} "job configuration unreadable", got exit ${code}`,
          c,
        );
        return `exit ${code}: ${/data provisioning failed[^\n]*/.exec(output)?.[0] ?? ''}`;
      },
    },
    {
      name: 'publish without a job: its own "C2D_JOB_ID is not set" exit',
      async run(replayer, image) {
        const { code, output, c } = await runToExit(replayer, image, { command: ['publish'] });
        expect(!MISSING_MODULE.test(output), 'a module is missing', c);
        expect(
          code === 1 && /publishing failed: ConfigurationError: configuration: C2D_JOB_ID is not set/.test(output),
          `expected exit 1 "C2D_JOB_ID is not set", got exit ${code}`,
          c,
        );
        return `exit ${code}: publishing failed: C2D_JOB_ID is not set`;
      },
    },
  ],
};

export const IMAGES: ImageSpec[] = [functionsImage, engineImage, podProgramsImage];
