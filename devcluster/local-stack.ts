import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { keccak256, toUtf8Bytes, Wallet } from 'ethers';
import { loadKubeConfig } from '../lib/kube/client.ts';
import {
  applyAccessManifests,
  CONTROL_PLANE_ACCOUNTS,
  ENGINE_SERVICE_ACCOUNT,
  mintServiceAccountIdentities,
  type ServiceAccountIdentities,
} from './identities.ts';
import { ENVIRONMENTS_CONFIGMAP, environmentsToConfigMapData, type Environment } from '../lib/job/environments.ts';
import { resultsStoreEnv } from '../lib/job/results-store-config.ts';
import { applyNetworkPolicies } from './network-policies.ts';
import type { PlatformEnv } from './platform-env.ts';
import { freePort, startProcess, waitFor, type ManagedProcess } from './processes.ts';

const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS_STORE_SECRET = 'c2d-results-store';
const OUTPUT_KEY_SECRET = 'c2d-output-key';
/**
 * The local platform's output key (docs/deploy.md, c2d-output-key): well known, like the chain's test keys, and used
 * nowhere else. Publish pods decrypt v2 jobs' `output` with it; `GET /v2` advertises its public half.
 */
export const LOCAL_OUTPUT_KEY = keccak256(toUtf8Bytes('c2d-knative: the local platform output key'));
/** The engine's NODE_OPTIONS in manifests/engine.yaml (a unit test keeps them equal). */
export const ENGINE_NODE_OPTIONS = '--max-semi-space-size=16';

export interface LocalStack {
  /** The provider base URL Ocean clients use: every function behind one gateway. */
  providerUrl: string;
  environmentId: string;
  engineMetricsUrl?: string;
  /** One per engine replica, in start order (the first is `engineMetricsUrl`). */
  engineMetricsUrls: string[];
  processes: ManagedProcess[];
  /** The kubeconfig each ServiceAccount's process uses (absent when running as admin). */
  identities?: ServiceAccountIdentities;
  /** The engine replicas' processes, in the order of `engineMetricsUrls` (a replaced one takes its place). */
  engines(): ManagedProcess[];
  /**
   * Ends engine replica `index` with `signal` and starts its replacement on the same metrics address: the same
   * identity (a container restarted in its pod) or a new one (a new pod, as a rolling update or a rescheduled pod).
   * Resolves once the replacement serves /healthz.
   */
  replaceEngine(index: number, opts: { signal: NodeJS.Signals; identity: 'same' | 'new' }): Promise<ManagedProcess>;
  stop(): Promise<void>;
}

export interface LocalStackOptions {
  /** Start the engine too (default true). */
  engine?: boolean;
  /** How many engine replicas, each its own identity, electing a leader as a Deployment's would (default 1). */
  engineReplicas?: number;
  /** Where the engine's and gateway's logs go (default: the platform's log directory). */
  logDir?: string;
  environment?: Partial<Environment>;
  /** The engine's entry module (default engine/main.ts under tsx); a `.js` file (compiled) runs under plain node. */
  engineEntry?: string;
  /**
   * Whose Kubernetes identity the engine and the functions act as. `service-accounts` (the default) applies the
   * manifests' RBAC and gives the engine and each function its own ServiceAccount token, so a permission the
   * manifests lack fails here as it would in a cluster; `admin` uses the platform's admin kubeconfig.
   */
  identity?: 'service-accounts' | 'admin';
  /**
   * The internal addresses the provider and the configure pods may fetch files from (PRIVATE_FILE_HOSTS_ALLOWED):
   * by default all of loopback, where tests and the demo serve their files on ports they pick at random. Narrow it
   * to the file server's address:port to keep the platform's own services (MinIO, the chain, the API server) out of
   * reach, as a deployment's default does.
   */
  privateFileHosts?: string;
  /** Further settings for every function (e.g. STATUS_REQUIRES_SIGNATURE), as a Knative Service's env would add. */
  functionSettings?: Record<string, string>;
  /** Further settings for every engine replica (e.g. LEASE_DURATION_SECONDS), as the Deployment's env would add. */
  engineSettings?: Record<string, string>;
  /**
   * Start an engine replica again (same identity, after a second) whenever it exits by itself, as the kubelet
   * restarts a pod's container: a leader that loses its Lease exits so. Off by default, so a test sees the exit.
   */
  restartEngines?: boolean;
}

/** The one compute environment of the local setup: small, priced in OCEAN so the fee path is real. */
export function localEnvironment(env: PlatformEnv, overrides: Partial<Environment> = {}): Environment {
  return {
    id: 'local-default',
    description: 'Local dev environment: pods on the local kubelet node',
    cpu: 1,
    memoryMiB: 1024,
    diskMiB: 1024,
    maxJobDurationSeconds: 600,
    maxConcurrentJobs: 5,
    storageExpirySeconds: 3600,
    consumerAddress: new Wallet(env.keys.provider).address.toLowerCase(),
    fees: [{ chainId: env.chainId, feeToken: env.ocean.Ocean!.toLowerCase(), pricePerMinute: '1000000000000000' }],
    allowNetworkAccess: false,
    ...overrides,
  };
}

async function upsert(create: () => Promise<unknown>, replace: () => Promise<unknown>): Promise<void> {
  try {
    await create();
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
    await replace();
  }
}

/**
 * The cluster objects the engine and functions read: compute environments, the results store's credentials, and the
 * output key the publish pods decrypt v2 jobs' own storage targets with.
 */
export async function writeLocalConfig(kc: KubeConfig, env: PlatformEnv, environment: Environment): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const cm = {
    metadata: { name: ENVIRONMENTS_CONFIGMAP, namespace: env.namespaces.system },
    data: environmentsToConfigMapData([environment]),
  };
  await upsert(
    () => core.createNamespacedConfigMap({ namespace: env.namespaces.system, body: cm }),
    () => core.replaceNamespacedConfigMap({ name: ENVIRONMENTS_CONFIGMAP, namespace: env.namespaces.system, body: cm }),
  );
  const secret = {
    metadata: { name: RESULTS_STORE_SECRET, namespace: env.namespaces.jobs },
    stringData: { ...env.s3, ...(env.podS3Endpoint ? { endpoint: env.podS3Endpoint } : {}) },
  };
  await upsert(
    () => core.createNamespacedSecret({ namespace: env.namespaces.jobs, body: secret }),
    () => core.replaceNamespacedSecret({ name: RESULTS_STORE_SECRET, namespace: env.namespaces.jobs, body: secret }),
  );
  const outputKey = {
    metadata: { name: OUTPUT_KEY_SECRET, namespace: env.namespaces.jobs },
    stringData: { privateKey: LOCAL_OUTPUT_KEY },
  };
  await upsert(
    () => core.createNamespacedSecret({ namespace: env.namespaces.jobs, body: outputKey }),
    () => core.replaceNamespacedSecret({ name: OUTPUT_KEY_SECRET, namespace: env.namespaces.jobs, body: outputKey }),
  );
}

/** Starts the engine and every function behind one gateway on 127.0.0.1, against a running platform. */
export async function startLocalStack(env: PlatformEnv, opts: LocalStackOptions = {}): Promise<LocalStack> {
  const logDir = opts.logDir ?? join(env.stateDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const environment = localEnvironment(env, opts.environment);
  const admin = loadKubeConfig(env.kubeconfig);
  await writeLocalConfig(admin, env, environment);

  const processes: ManagedProcess[] = [];
  let replaceEngine!: LocalStack['replaceEngine'];
  let enginesNow!: LocalStack['engines'];
  let identities: ServiceAccountIdentities | undefined;
  let identitiesDir: string | undefined;
  let stopping = false;
  const stop = async (): Promise<void> => {
    stopping = true;
    for (const p of [...processes].reverse()) await p.stop();
    identities?.stop();
    if (identitiesDir) rmSync(identitiesDir, { recursive: true, force: true });
  };
  const base = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    JOBS_NAMESPACE: env.namespaces.jobs,
    SYSTEM_NAMESPACE: env.namespaces.system,
    PRIVATE_FILE_HOSTS_ALLOWED: opts.privateFileHosts ?? '127.0.0.0/8',
  };
  try {
    await applyNetworkPolicies(admin);
    if ((opts.identity ?? 'service-accounts') === 'service-accounts') {
      await applyAccessManifests(admin);
      identitiesDir = mkdtempSync(join(env.stateDir, 'identities-'));
      identities = await mintServiceAccountIdentities(admin, identitiesDir, CONTROL_PLANE_ACCOUNTS, {
        namespace: env.namespaces.system,
      });
    }
    const engineKubeconfig = identities?.kubeconfigs.get(ENGINE_SERVICE_ACCOUNT) ?? env.kubeconfig;
    const provider = new Wallet(env.keys.provider);
    const engineMetricsUrls: string[] = [];
    const engines: ManagedProcess[] = [];
    const entry = opts.engineEntry ?? join(projectRoot, 'engine/main.ts');
    let replicasStarted = 0;
    const startEngine = (metricsPort: number, suffix: string): ManagedProcess =>
      startProcess(`engine${suffix}`, process.execPath, entry.endsWith('.js') ? [entry] : ['--import', 'tsx', entry], {
        logFile: join(logDir, `engine${suffix}.log`),
        cwd: projectRoot,
        env: {
          ...base,
          NODE_OPTIONS: ENGINE_NODE_OPTIONS,
          KUBECONFIG: engineKubeconfig,
          ...resultsStoreEnv(env.s3),
          ENVIRONMENTS_NAMESPACE: env.namespaces.system,
          LEASE_NAMESPACE: env.namespaces.system,
          METRICS_PORT: String(metricsPort),
          METRICS_HOST: '127.0.0.1',
          POD_NAME: `engine-local-${process.pid}${suffix}`,
          // The payee's key: the engine claims and releases the escrow locks `start` made (engine/settlement.ts).
          RPC_URL: env.rpcUrl,
          CHAIN_ID: String(env.chainId),
          ESCROW_ADDRESS: env.ocean.Escrow,
          PROVIDER_KEY: env.keys.provider,
          ...opts.engineSettings,
        },
      });
    /** Keeps replica `index` running when `restartEngines` asks for it. */
    const supervise = (index: number, engine: ManagedProcess): void => {
      if (!opts.restartEngines) return;
      void engine.exited.then(async () => {
        await new Promise((r) => setTimeout(r, 1000));
        if (stopping || engines[index] !== engine) return;
        const next = engine.respawn();
        engines[index] = next;
        processes[processes.indexOf(engine)] = next;
        supervise(index, next);
      });
    };
    const replicas = opts.engine === false ? 0 : (opts.engineReplicas ?? 1);
    for (let replica = 1; replica <= replicas; replica++) {
      const metricsPort = await freePort();
      engineMetricsUrls.push(`http://127.0.0.1:${metricsPort}`);
      const engine = startEngine(metricsPort, replica === 1 ? '' : `-${replica}`);
      replicasStarted = replica;
      engines.push(engine);
      processes.push(engine);
      supervise(replica - 1, engine);
    }
    replaceEngine = async (index, how) => {
      const old = engines[index];
      if (!old) throw new Error(`no engine replica ${index}`);
      old.child.kill(how.signal);
      await old.exited;
      const url = engineMetricsUrls[index]!;
      const next =
        how.identity === 'same' ? old.respawn() : startEngine(Number(new URL(url).port), `-${++replicasStarted}`);
      engines[index] = next;
      processes[processes.indexOf(old)] = next;
      supervise(index, next);
      await waitFor(
        `the replacement of engine replica ${index} to serve /healthz`,
        async (signal) => (await fetch(`${url}/healthz`, { signal })).ok,
        60_000,
        50,
      );
      return next;
    };
    enginesNow = () => [...engines];
    const engineMetricsUrl = engineMetricsUrls[0];
    const port = await freePort();
    const providerUrl = `http://127.0.0.1:${port}`;
    processes.push(
      startProcess('gateway', process.execPath, ['--import', 'tsx', join(projectRoot, 'functions/gateway.ts')], {
        logFile: join(logDir, 'gateway.log'),
        cwd: projectRoot,
        env: {
          ...base,
          ...(identities ? { FUNCTION_KUBECONFIG_DIR: identitiesDir } : { KUBECONFIG: env.kubeconfig }),
          ...resultsStoreEnv(env.s3),
          PORT: String(port),
          PROVIDER_URL: providerUrl,
          RPC_URL: env.rpcUrl,
          CHAIN_ID: String(env.chainId),
          ERC721_FACTORY_ADDRESS: env.ocean.ERC721Factory,
          ESCROW_ADDRESS: env.ocean.Escrow,
          PROVIDER_KEY: env.keys.provider,
          PROVIDER_ADDRESS: provider.address,
          PROVIDER_PUBLIC_KEY: provider.signingKey.publicKey,
          OUTPUT_PUBLIC_KEY: new Wallet(LOCAL_OUTPUT_KEY).signingKey.compressedPublicKey,
          ...opts.functionSettings,
        },
      }),
    );
    const exitedEarly = processes.map(async (p) => {
      const code = await p.exited;
      throw new Error(`${p.name} exited (${code}) during start-up; see ${p.logFile}`);
    });
    for (const p of exitedEarly) p.catch(() => undefined);
    await Promise.race([
      Promise.all([
        waitFor('the gateway', async (signal) => (await fetch(`${providerUrl}/`, { signal })).ok, 60_000, 100),
        ...engineMetricsUrls.map((url, i) =>
          waitFor(
            `the engine${i === 0 ? '' : ` replica ${i + 1}`}`,
            async (signal) => (await fetch(`${url}/healthz`, { signal })).ok,
            60_000,
            100,
          ),
        ),
      ]),
      ...exitedEarly,
    ]);
    return {
      providerUrl,
      environmentId: environment.id,
      ...(engineMetricsUrl !== undefined && { engineMetricsUrl }),
      engineMetricsUrls,
      processes,
      identities,
      engines: enginesNow,
      replaceEngine,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
