import { readFileSync } from 'node:fs';
import { parsePrivateHostAllowList, type PrivateHostAllowList } from '../http/address-policy.ts';
import { ENVIRONMENTS_CONFIGMAP as DEFAULT_ENVIRONMENTS_CONFIGMAP } from '../job/names.ts';
import { Env, type EnvVars } from '../env.ts';
import { resultsStoreConfigFromEnv, type ResultsStoreConfig } from '../job/results-store-config.ts';

/**
 * What a function reads from its environment. Every function checks the same variables at start-up; the ones a
 * function does not use may be absent (each accessor below fails at start-up of the function that needs it, naming
 * the variable).
 */
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

export class FunctionConfig {
  readonly jobsNamespace: string;
  readonly systemNamespace: string;
  readonly environmentsConfigMap: string;
  readonly providerUrl: string | undefined;
  readonly maxBodyBytes: number | undefined;
  /**
   * PRIVATE_FILE_HOSTS_ALLOWED: the loopback, private and link-local addresses file URLs may point at and the
   * provider may fetch from (a development cluster serves its files there): comma-separated IP, CIDR or IP:port.
   * Default none.
   */
  readonly privateFileHosts: PrivateHostAllowList;
  /** STATUS_CACHE_MAX_JOBS: the most jobs status's watch holds in memory; with more it reads each from the API. */
  readonly statusCacheMaxJobs: number;
  /**
   * STATUS_REQUIRES_SIGNATURE: status answers only signed requests (consumerAddress + jobId + nonce +
   * "computeStatus"). Off by default because ocean.js 3.x does not sign status requests; on, nobody can list another
   * address's jobs, DIDs and result names.
   */
  readonly statusRequiresSignature: boolean;
  /** PROVIDER_ADDRESS: lets a function that does not hold the key name the provider. */
  readonly providerAddress: string | undefined;
  /** PROVIDER_PUBLIC_KEY: what documents are encrypted to, for a function that does not hold the key. */
  readonly providerPublicKey: string | undefined;
  /**
   * OUTPUT_PUBLIC_KEY: the public half of the output key (c2d-output-key, held by the publish pods only), compressed
   * (0x02/0x03…) or uncompressed (0x04…): what `GET /v2` advertises as `nodePublicKey`, to which ocean.js 8.x encrypts
   * a job's own storage target (`output`). Unset, v2 start refuses `output`, and `nodePublicKey` is the provider's key.
   */
  readonly outputPublicKey: string | undefined;
  /**
   * ESCROW_ADDRESS: ocean-node's Escrow contract on CHAIN_ID. Set, start and initializeCompute take paid v2 jobs
   * (and then need RPC_URL and the provider's key); unset, only the free tier runs.
   */
  readonly escrowAddress: string | undefined;
  readonly #env: Env;
  readonly #chainId: number | undefined;
  readonly #rpcUrl: string | undefined;
  /** ERC721_FACTORY_ADDRESS: Ocean's ERC721Factory on CHAIN_ID; only NFTs and datatokens it created count. */
  readonly #factoryAddress: string | undefined;

  constructor(vars: EnvVars = process.env) {
    const env = new Env(vars);
    this.#env = env;
    this.jobsNamespace = env.matching('JOBS_NAMESPACE', DNS_LABEL, 'must be a DNS label', 'c2d-jobs')!;
    this.systemNamespace = env.matching('SYSTEM_NAMESPACE', DNS_LABEL, 'must be a DNS label', 'c2d-system')!;
    this.environmentsConfigMap = env.matching(
      'ENVIRONMENTS_CONFIGMAP',
      DNS_LABEL,
      'must be a DNS label',
      DEFAULT_ENVIRONMENTS_CONFIGMAP,
    )!;
    this.providerUrl = env.url('PROVIDER_URL');
    this.providerAddress = env.matching('PROVIDER_ADDRESS', ADDRESS, 'must be a 0x address');
    this.providerPublicKey = env.matching(
      'PROVIDER_PUBLIC_KEY',
      /^0x04[0-9a-fA-F]{128}$/,
      'must be an uncompressed 0x04 public key',
    );
    this.outputPublicKey = env.matching(
      'OUTPUT_PUBLIC_KEY',
      /^0x(0[23][0-9a-fA-F]{64}|04[0-9a-fA-F]{128})$/,
      'must be a secp256k1 public key, 0x02/0x03… (compressed) or 0x04… (uncompressed)',
    );
    this.escrowAddress = env.matching('ESCROW_ADDRESS', ADDRESS, 'must be a 0x address');
    this.#rpcUrl = env.url('RPC_URL');
    this.#chainId = env.optionalInt('CHAIN_ID');
    this.#factoryAddress = env.matching('ERC721_FACTORY_ADDRESS', ADDRESS, 'must be a 0x address');
    this.maxBodyBytes = env.optionalInt('MAX_BODY_BYTES');
    this.statusCacheMaxJobs = env.int('STATUS_CACHE_MAX_JOBS', 5000, { min: 0 });
    this.privateFileHosts = env.parsed('PRIVATE_FILE_HOSTS_ALLOWED', parsePrivateHostAllowList, '');
    this.statusRequiresSignature = env.boolean('STATUS_REQUIRES_SIGNATURE', false);
  }

  private required<T>(name: string, value: T | undefined): T {
    if (value === undefined) throw new Error(`configuration: ${name} is required by this function`);
    return value;
  }

  get chainId(): number {
    return this.required('CHAIN_ID', this.#chainId);
  }

  get rpcUrl(): string {
    return this.required('RPC_URL', this.#rpcUrl);
  }

  /** RPC_URL, or undefined for a function that can do without a chain. */
  get rpcUrlIfSet(): string | undefined {
    return this.#rpcUrl;
  }

  /** CHAIN_ID, or undefined for a function that can do without a chain. */
  get chainIdIfSet(): number | undefined {
    return this.#chainId;
  }

  get factoryAddress(): string {
    return this.required('ERC721_FACTORY_ADDRESS', this.#factoryAddress);
  }

  /** The URL this provider is reached at, which a DDO's services must name. */
  get serviceEndpoint(): string {
    return this.required('PROVIDER_URL', this.providerUrl);
  }

  /**
   * The provider's private key (hex), from PROVIDER_KEY or the file PROVIDER_KEY_FILE names (a mounted Secret).
   * Turning it into a Wallet, an address or a public key is left to the functions that need one, so that the
   * others do not load the code for it.
   */
  providerKey(): string {
    const file = this.#env.optional('PROVIDER_KEY_FILE');
    const key = this.#env.optional('PROVIDER_KEY') ?? (file && readFileSync(file, 'utf8').trim());
    if (!key) throw new Error('configuration: PROVIDER_KEY or PROVIDER_KEY_FILE is required by this function');
    return key;
  }

  /** The results store's settings (S3_ENDPOINT, S3_REGION, S3_BUCKET, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY). */
  resultsStore(): ResultsStoreConfig {
    return resultsStoreConfigFromEnv(this.#env);
  }
}
