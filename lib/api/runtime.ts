import * as functions from '@google-cloud/functions-framework';
import { getRequestListener } from '@hono/node-server';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { S3Client } from '@aws-sdk/client-s3';
import type { Hono } from 'hono';
import type { AccessSettings } from '../access/admit-job.ts';
import type { ChainContext } from '../access/chain-context.ts';
import { createChainProvider } from '../access/rpc.ts';
import { KubeNonceStore, type NonceStore } from '../auth/nonce-store.ts';
import { jsonLogger, type Logger } from '../http/log.ts';
import { loadKubeConfig } from '../kube/client.ts';
import { FunctionConfig } from './config.ts';
import type { FunctionName } from './endpoints.ts';
import type { EnvironmentSource } from './environments.ts';
import { JobStore } from './jobs.ts';
import type { ObjectStore } from './objects.ts';
import { OrderClaims } from './order-claims.ts';

/** What every function app gets: its log and its body cap. */
export interface BaseDeps {
  logger: Logger;
  maxBodyBytes?: number;
}

export interface Kube {
  kc: KubeConfig;
  core: CoreV1Api;
}

/**
 * The clients a function builds from its environment, each created on first use so a function only needs the
 * configuration of what it talks to. One Runtime is shared by every app in the gateway.
 */
export class Runtime {
  readonly config: FunctionConfig;
  readonly #kubeconfigPath: string | undefined;
  #kube: Kube | undefined;
  #nonces: NonceStore | undefined;
  #objects: ObjectStore | undefined;
  #chain: ChainContext | undefined;

  constructor(env: NodeJS.ProcessEnv = process.env) {
    this.config = new FunctionConfig(env);
    this.#kubeconfigPath = env.KUBECONFIG;
  }

  base(name: FunctionName): BaseDeps {
    const { maxBodyBytes } = this.config;
    return { logger: jsonLogger(`fn-${name}`), ...(maxBodyBytes !== undefined && { maxBodyBytes }) };
  }

  get kube(): Kube {
    if (!this.#kube) {
      const kc = loadKubeConfig(this.#kubeconfigPath);
      this.#kube = { kc, core: kc.makeApiClient(CoreV1Api) };
    }
    return this.#kube;
  }

  get nonces(): NonceStore {
    this.#nonces ??= new KubeNonceStore(this.kube.core, this.config.systemNamespace);
    return this.#nonces;
  }

  jobs(logger: Logger): JobStore {
    return new JobStore(this.kube.core, this.config.jobsNamespace, logger);
  }

  get objects(): ObjectStore {
    if (!this.#objects) {
      const s3 = this.config.s3();
      this.#objects = {
        bucket: s3.bucket,
        s3: new S3Client({
          endpoint: s3.endpoint,
          region: s3.region,
          forcePathStyle: true,
          credentials: { accessKeyId: s3.accessKey, secretAccessKey: s3.secretKey },
        }),
      };
    }
    return this.#objects;
  }

  get claims(): OrderClaims {
    return new OrderClaims(this.kube.core, this.config.jobsNamespace);
  }

  get chain(): ChainContext {
    this.#chain ??= {
      provider: createChainProvider(this.config.rpcUrl, this.config.chainId),
      chainId: this.config.chainId,
      factoryAddress: this.config.factoryAddress,
    };
    return this.#chain;
  }

  /** What the access checks of start and initializeCompute need: the chain, the provider's key and URL, file rules. */
  access(): AccessSettings {
    return {
      chain: this.chain,
      key: this.config.providerWallet(),
      providerUrls: [this.config.serviceEndpoint],
      files: { allowPrivateHosts: this.config.allowPrivateFileHosts },
    };
  }

  get environments(): EnvironmentSource {
    return { core: this.kube.core, namespace: this.config.systemNamespace, name: this.config.environmentsConfigMap };
  }
}

/** Registers the app as the functions-framework HTTP target `name` (what `--target=name` serves). */
export function registerFunction(name: FunctionName, app: Hono): void {
  functions.http(name, getRequestListener(app.fetch));
}
