import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parsePrivateHostAllowList, type PrivateHostAllowList } from '../http/address-policy.ts';
import { ENVIRONMENTS_CONFIGMAP as DEFAULT_ENVIRONMENTS_CONFIGMAP } from '../job/environments.ts';

/**
 * What a function reads from its environment. Every function parses the same variables; the ones a function does
 * not use may be absent (each accessor below fails at startup of the function that needs it, naming the variable).
 */
const dnsLabel = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'must be a DNS label');

const envSchema = z.object({
  JOBS_NAMESPACE: dnsLabel.default('c2d-jobs'),
  SYSTEM_NAMESPACE: dnsLabel.default('c2d-system'),
  ENVIRONMENTS_CONFIGMAP: dnsLabel.default(DEFAULT_ENVIRONMENTS_CONFIGMAP),
  PROVIDER_URL: z.url().optional(),
  PROVIDER_ADDRESS: z.string().regex(/^0x[0-9a-fA-F]{40}$/).optional(),
  PROVIDER_PUBLIC_KEY: z.string().regex(/^0x04[0-9a-fA-F]{128}$/).optional(),
  PROVIDER_KEY: z.string().optional(),
  PROVIDER_KEY_FILE: z.string().optional(),
  RPC_URL: z.url().optional(),
  CHAIN_ID: z.string().regex(/^\d+$/).transform(Number).optional(),
  S3_ENDPOINT: z.url().optional(),
  S3_ACCESS_KEY: z.string().optional(),
  S3_SECRET_KEY: z.string().optional(),
  S3_BUCKET: z.string().optional(),
  S3_REGION: z.string().default('us-east-1'),
  MAX_BODY_BYTES: z.string().regex(/^\d+$/).transform(Number).optional(),
  /** status: the most jobs its watch holds in memory; with more in the namespace it reads each from the API. */
  STATUS_CACHE_MAX_JOBS: z.string().regex(/^\d+$/).transform(Number).default(5000),
  /** Ocean's ERC721Factory on CHAIN_ID: only NFTs and datatokens it created count. */
  ERC721_FACTORY_ADDRESS: z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x address').optional(),
  /**
   * The loopback, private and link-local addresses file URLs may point at and the provider may fetch from
   * (a development cluster serves its files there): comma-separated IP, CIDR or IP:port. Default none.
   */
  PRIVATE_FILE_HOSTS_ALLOWED: z
    .string()
    .default('')
    .transform((text, ctx) => {
      try {
        return parsePrivateHostAllowList(text);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    }),
  /**
   * status: answer only signed requests (consumerAddress + jobId + nonce + "computeStatus"). Off by default because
   * ocean.js 3.x does not sign status requests; on, nobody can list another address's jobs, DIDs and result names.
   */
  STATUS_REQUIRES_SIGNATURE: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
});

export interface S3Config {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  bucket: string;
  region: string;
}

export class FunctionConfig {
  readonly jobsNamespace: string;
  readonly systemNamespace: string;
  readonly environmentsConfigMap: string;
  readonly providerUrl: string | undefined;
  readonly maxBodyBytes: number | undefined;
  readonly privateFileHosts: PrivateHostAllowList;
  readonly statusCacheMaxJobs: number;
  readonly statusRequiresSignature: boolean;
  /** PROVIDER_ADDRESS: lets a function that does not hold the key name the provider. */
  readonly providerAddress: string | undefined;
  /** PROVIDER_PUBLIC_KEY: what documents are encrypted to, for a function that does not hold the key. */
  readonly providerPublicKey: string | undefined;
  readonly #env: z.output<typeof envSchema>;

  constructor(env: NodeJS.ProcessEnv = process.env) {
    const parsed = envSchema.safeParse(env);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Error(`configuration: ${issue?.path.join('.')} ${issue?.message}`);
    }
    this.#env = parsed.data;
    this.jobsNamespace = parsed.data.JOBS_NAMESPACE;
    this.systemNamespace = parsed.data.SYSTEM_NAMESPACE;
    this.environmentsConfigMap = parsed.data.ENVIRONMENTS_CONFIGMAP;
    this.providerUrl = parsed.data.PROVIDER_URL;
    this.maxBodyBytes = parsed.data.MAX_BODY_BYTES;
    this.privateFileHosts = parsed.data.PRIVATE_FILE_HOSTS_ALLOWED;
    this.statusCacheMaxJobs = parsed.data.STATUS_CACHE_MAX_JOBS;
    this.statusRequiresSignature = parsed.data.STATUS_REQUIRES_SIGNATURE;
    this.providerAddress = parsed.data.PROVIDER_ADDRESS;
    this.providerPublicKey = parsed.data.PROVIDER_PUBLIC_KEY;
  }

  private required<K extends keyof z.output<typeof envSchema>>(name: K): NonNullable<z.output<typeof envSchema>[K]> {
    const value = this.#env[name];
    if (value === undefined || value === null) throw new Error(`configuration: ${name} is required by this function`);
    return value as NonNullable<z.output<typeof envSchema>[K]>;
  }

  get chainId(): number {
    return this.required('CHAIN_ID');
  }

  get rpcUrl(): string {
    return this.required('RPC_URL');
  }

  get factoryAddress(): string {
    return this.required('ERC721_FACTORY_ADDRESS');
  }

  /** The URL this provider is reached at, which a DDO's services must name. */
  get serviceEndpoint(): string {
    return this.required('PROVIDER_URL');
  }

  /**
   * The provider's private key (hex), from PROVIDER_KEY or the file PROVIDER_KEY_FILE names (a mounted Secret).
   * Turning it into a Wallet, an address or a public key is left to the functions that need one, so that the
   * others do not load the code for it.
   */
  providerKey(): string {
    const key = this.#env.PROVIDER_KEY ?? (this.#env.PROVIDER_KEY_FILE && readFileSync(this.#env.PROVIDER_KEY_FILE, 'utf8').trim());
    if (!key) throw new Error('configuration: PROVIDER_KEY or PROVIDER_KEY_FILE is required by this function');
    return key;
  }

  s3(): S3Config {
    return {
      endpoint: this.required('S3_ENDPOINT'),
      accessKey: this.required('S3_ACCESS_KEY'),
      secretKey: this.required('S3_SECRET_KEY'),
      bucket: this.required('S3_BUCKET'),
      region: this.#env.S3_REGION,
    };
  }
}
