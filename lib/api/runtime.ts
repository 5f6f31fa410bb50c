import { accessSync, constants } from 'node:fs';
import type { CoreV1Api } from '@kubernetes/client-node';
import type { NonceStore } from '../auth/nonce-store.ts';
import type { TokenStore } from '../auth/token-store.ts';
import { jsonLogger, type Logger } from '../http/log.ts';
import { deferred, lazyKube, type Kube } from '../kube/lazy.ts';
import type { LeaseApi } from '../kube/lease.ts';
import type { ContractSigners } from '../auth/contract-signature.ts';
import type { V2AuthDeps } from '../auth/v2-authenticate.ts';
import { Env, type EnvVars } from '../env.ts';
import { FunctionConfig } from './config.ts';
import type { FunctionName } from './endpoints.ts';
import type { EnvironmentSource } from './environments.ts';
import { JobCache } from './job-cache.ts';
import { JobStore } from './jobs.ts';
import { lazyObjectStore, type ObjectStore } from './objects.ts';
import { OrderClaims } from './order-claims.ts';

/** What every function app gets: its log and its body cap. */
export interface BaseDeps {
  logger: Logger;
  maxBodyBytes?: number;
}

export type { Kube };

/** Bound on each JSON-RPC call of an ERC-1271 check. */
const CONTRACT_SIGNER_TIMEOUT_MS = 10_000;

/** Where a pod finds its ServiceAccount token when KUBECONFIG is not set (what client-node's loadFromCluster reads). */
const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * The clients a function builds from its environment. A function only needs the configuration of what it talks to,
 * and loads only the libraries of what it talks to: @kubernetes/client-node in the background right after start-up
 * when its app uses Kubernetes (see #connectSoon), @aws-sdk/client-s3 on its first object-store call; info and
 * encrypt load neither. The configuration is checked when the function's app is built, so a function missing some
 * fails at start-up, naming it.
 *
 * The stores (`nonces`, `jobs`, `claims`, `environments`) are ready to use at once; they connect on first use.
 * One Runtime's clients are shared by every app built from it.
 */
export class Runtime {
  readonly config: FunctionConfig;
  readonly #kubeconfig: string | undefined;
  readonly #kube: () => Promise<Kube>;
  #core: CoreV1Api | undefined;
  #nonces: NonceStore | undefined;
  #noncesV2: NonceStore | undefined;
  #tokens: TokenStore | undefined;
  #objects: ObjectStore | undefined;
  #jobCache: JobCache | undefined;
  #leases: LeaseApi | undefined;
  #contractSigners: ContractSigners | undefined;

  constructor(vars: EnvVars = process.env) {
    this.config = new FunctionConfig(vars);
    this.#kubeconfig = new Env(vars).optional('KUBECONFIG');
    this.#kube = lazyKube(this.#kubeconfig);
  }

  base(name: FunctionName): BaseDeps {
    const { maxBodyBytes } = this.config;
    return { logger: jsonLogger(`fn-${name}`), ...(maxBodyBytes !== undefined && { maxBodyBytes }) };
  }

  /** The Kubernetes clients; the first call loads client-node and reads the kubeconfig (see #connectSoon). */
  kube(): Promise<Kube> {
    return this.#kube();
  }

  /**
   * The core API client, usable at once; its first call connects. Checks now that there is an identity to connect
   * with: the KUBECONFIG file, or in a pod the ServiceAccount token.
   */
  get core(): CoreV1Api {
    if (!this.#core) {
      const kubeconfig = this.#kubeconfig;
      const identity = kubeconfig || SERVICE_ACCOUNT_TOKEN;
      try {
        accessSync(identity, constants.R_OK);
      } catch {
        throw new Error(
          kubeconfig
            ? `configuration: KUBECONFIG ${kubeconfig} is not readable`
            : `configuration: KUBECONFIG is required by this function outside a pod (no ${SERVICE_ACCOUNT_TOKEN})`,
        );
      }
      this.#core = deferred(async () => (await this.#kube()).core);
      this.#connectSoon();
    }
    return this.#core;
  }

  /**
   * A function that talks to Kubernetes loads the client right after start-up, in the background: the server
   * listens meanwhile, and the loading happens outside any request. Loading it within the first request costs more
   * (measured: ~300 ms CPU and ~15 MiB): functions-framework runs each request in a `domain`, which then tracks every
   * one of the module loader's thousands of async steps. A failure here is retried on first use.
   */
  #connectSoon(): void {
    setImmediate(() => {
      this.#kube().catch((err: unknown) =>
        jsonLogger('runtime').warn('Kubernetes client not ready at start-up; retrying on first use', { error: err }),
      );
    }).unref();
  }

  get nonces(): NonceStore {
    this.#nonces ??= this.#nonceStore('v1');
    return this.#nonces;
  }

  /** The v2 API's nonce counter (lib/auth/v2-nonce-policy.ts), kept beside v1's in the same ConfigMaps. */
  get noncesV2(): NonceStore {
    this.#noncesV2 ??= this.#nonceStore('v2');
    return this.#noncesV2;
  }

  #nonceStore(api: 'v1' | 'v2'): NonceStore {
    const core = this.core;
    const namespace = this.config.systemNamespace;
    let store: Promise<NonceStore> | undefined;
    return deferred(
      () =>
        (store ??= import('../auth/nonce-store.ts').then(
          (m) => new m.KubeNonceStore(core, namespace, api === 'v1' ? m.V1_NONCES : m.V2_NONCES),
        )),
    );
  }

  /** How a v2 request proves its caller (lib/auth/v2-authenticate.ts): the v2 nonces, auth tokens, ERC-1271. */
  get v2Auth(): V2AuthDeps {
    return { nonces: this.noncesV2, tokens: this.tokens, contractSigners: this.contractSigners };
  }

  /** ERC-1271 contract accounts, asked on the chain RPC_URL and CHAIN_ID name; undefined when either is unset. */
  get contractSigners(): ContractSigners | undefined {
    const { rpcUrlIfSet: rpcUrl, chainIdIfSet: chainId } = this.config;
    if (rpcUrl === undefined || chainId === undefined) return undefined;
    if (!this.#contractSigners) {
      // Loaded on the first request that needs it: the chain client stays out of every function's start-up.
      let signers: Promise<ContractSigners> | undefined;
      const load = (): Promise<ContractSigners> =>
        (signers ??= Promise.all([import('../auth/contract-signature.ts'), import('../access/rpc.ts')]).then(
          ([m, chain]) => m.contractSigners(chain.createChainProvider(rpcUrl, chainId), CONTRACT_SIGNER_TIMEOUT_MS),
        ));
      this.#contractSigners = { isValid: async (...args) => (await load()).isValid(...args) };
    }
    return this.#contractSigners;
  }

  /** The v2 API's auth tokens (lib/auth/token-store.ts). */
  get tokens(): TokenStore {
    if (!this.#tokens) {
      const core = this.core;
      const namespace = this.config.systemNamespace;
      let store: Promise<TokenStore> | undefined;
      this.#tokens = deferred(
        () => (store ??= import('../auth/token-store.ts').then((m) => new m.KubeTokenStore(core, namespace))),
      );
    }
    return this.#tokens;
  }

  /**
   * The jobs of the jobs namespace. With `cache`, reads come from a watch of the job ConfigMaps once it has synced
   * (one per Runtime, started right after start-up): see JobCache for what it answers and when the API is asked.
   */
  jobs(logger: Logger, options: { cache?: boolean } = {}): JobStore {
    const core = this.core;
    if (options.cache && !this.#jobCache) {
      const cache = new JobCache(this.#kube, this.config.jobsNamespace, logger, this.config.statusCacheMaxJobs);
      // Listed and watched from start-up on, so that the first requests find it synced.
      setImmediate(() => void cache.start()).unref();
      this.#jobCache = cache;
    }
    return new JobStore(core, this.config.jobsNamespace, logger, options.cache ? this.#jobCache : undefined);
  }

  get objects(): ObjectStore {
    this.#objects ??= lazyObjectStore(this.config.resultsStore());
    return this.#objects;
  }

  /** Leases in the system namespace: the provider key's transaction lease (lib/payment/provider-tx.ts). */
  get leases(): LeaseApi {
    void this.core; // checks now that there is an identity to connect with
    this.#leases ??= deferred(async () => {
      const { kc, k8s } = await this.#kube();
      return kc.makeApiClient(k8s.CoordinationV1Api);
    });
    return this.#leases;
  }

  get claims(): OrderClaims {
    return new OrderClaims(this.core, this.config.jobsNamespace);
  }

  get environments(): EnvironmentSource {
    return { core: this.core, namespace: this.config.systemNamespace, name: this.config.environmentsConfigMap };
  }
}
