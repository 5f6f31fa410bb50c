import { z } from 'zod';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { getAddress } from 'ethers/address';
import { ENVIRONMENT_ID_PATTERN, ENVIRONMENTS_CONFIGMAP } from './names.ts';

/**
 * Compute environments: what a job may use and how many may run at once. The publisher lists them in one
 * ConfigMap (`ENVIRONMENTS_CONFIGMAP`, key `ENVIRONMENTS_KEY`) as a JSON array.
 */

export { ENVIRONMENTS_CONFIGMAP };
export const ENVIRONMENTS_KEY = 'environments.json';

const address = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x address')
  .transform((a) => a.toLowerCase());

const feeSchema = z.strictObject({
  chainId: z.number().int().positive(),
  feeToken: address,
  /** Price per minute in the fee token's smallest unit, as a decimal integer string. */
  pricePerMinute: z.string().regex(/^(0|[1-9][0-9]{0,77})$/, 'must be a non-negative decimal integer'),
});

/**
 * What the v2 API (ocean-node's C2D v2) adds, all optional so a v1-only environment stays as it was. Resources are
 * named as ocean-node names them: cpu (cores), ram and disk (GiB); prices are ocean-node's, a number of whole fee
 * tokens per unit per minute.
 */
export const RESOURCE_IDS = ['cpu', 'ram', 'disk'] as const;
export type ResourceId = (typeof RESOURCE_IDS)[number];

const resourcePriceSchema = z.strictObject({
  id: z.enum(RESOURCE_IDS),
  price: z.number().nonnegative().finite(),
});

/** ocean-node's ComputeEnvFees: one fee token and its per-resource prices. */
const escrowFeeSchema = z.strictObject({
  feeToken: address,
  prices: z
    .array(resourcePriceSchema)
    .min(1)
    .refine((p) => new Set(p.map((x) => x.id)).size === p.length, 'prices must name each resource once'),
});
export type EscrowFee = z.infer<typeof escrowFeeSchema>;

/** Per-job amounts of cpu (cores), memory and disk (MiB), as the workflow's limits hold them. */
const jobSizeSchema = z.strictObject({
  cpu: z.number().positive().max(256),
  memoryMiB: z.number().int().min(16),
  diskMiB: z.number().int().min(1),
});
export type JobSize = z.infer<typeof jobSizeSchema>;

const chainIdKey = z.string().regex(/^[1-9][0-9]{0,11}$/, 'must be a chain id');

/** Each AccessList contract is one balanceOf call when a job starts: at most this many per chain. */
const MAX_ACCESS_LISTS_PER_CHAIN = 16;
const MAX_ACCESS_LIST_CHAINS = 16;

/** A contract address, all one case or with a valid EIP-55 checksum; kept checksummed, as it is served. */
const contractAddress = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x address')
  .refine((a) => {
    try {
      getAddress(a);
      return true;
    } catch {
      return false;
    }
  }, 'has an invalid EIP-55 checksum')
  .transform((a) => getAddress(a));

/**
 * ocean-node's ComputeAccessList (src/@types/C2D/C2D.ts): `addresses`, and `accessLists`, an array of maps from a
 * chain id to AccessList contracts (ERC-721s from Ocean's AccessListFactory) whose token holders are admitted.
 * Nothing listed in either: anyone.
 */
const accessSchema = z.strictObject({
  addresses: z.array(address).max(1000).default([]),
  accessLists: z
    .array(
      z
        .record(chainIdKey, z.array(contractAddress).min(1).max(MAX_ACCESS_LISTS_PER_CHAIN))
        .refine((m) => Object.keys(m).length > 0, 'must name at least one chain'),
    )
    .max(MAX_ACCESS_LIST_CHAINS)
    .refine(
      (maps) => Object.values(contractsPerChain(maps)).every((c) => c.length <= MAX_ACCESS_LISTS_PER_CHAIN),
      `at most ${MAX_ACCESS_LISTS_PER_CHAIN} access lists per chain`,
    )
    .refine(
      (maps) => Object.keys(contractsPerChain(maps)).length <= MAX_ACCESS_LIST_CHAINS,
      `access lists on at most ${MAX_ACCESS_LIST_CHAINS} chains`,
    )
    .nullable()
    .optional(),
});
export type Access = z.infer<typeof accessSchema>;

/** The distinct AccessList contracts of `accessLists`, by chain id. */
export function contractsPerChain(maps: readonly Record<string, readonly string[]>[] | null | undefined) {
  const byChain: Record<string, string[]> = {};
  for (const map of maps ?? []) {
    for (const [chainId, contracts] of Object.entries(map)) {
      byChain[chainId] = [...new Set([...(byChain[chainId] ?? []), ...contracts])];
    }
  }
  return byChain;
}

/** The free tier: jobs nobody pays for, within limits of their own, for those its `access` admits. */
const freeTierSchema = jobSizeSchema.extend({
  maxJobDurationSeconds: z
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 3600),
  maxConcurrentJobs: z.number().int().min(1).max(10_000),
  access: accessSchema.default({ addresses: [] }),
});
export type FreeTier = z.infer<typeof freeTierSchema>;

const environmentSchema = z.strictObject({
  id: z.string().regex(ENVIRONMENT_ID_PATTERN, 'must be a lower-case DNS label'),
  description: z.string().max(1024).default(''),
  /** CPU cores per job (fractions allowed). */
  cpu: z.number().positive().max(256),
  memoryMiB: z.number().int().min(16),
  diskMiB: z.number().int().min(1),
  maxJobDurationSeconds: z
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 3600),
  maxConcurrentJobs: z.number().int().min(1).max(10_000),
  /** How long a finished job's results (and pods, volume) are kept. */
  storageExpirySeconds: z.number().int().min(60),
  /** The provider address fees are paid to. */
  consumerAddress: address,
  fees: z.array(feeSchema).default([]),
  /** Whether jobs in this environment may be granted network access at all. */
  allowNetworkAccess: z.boolean().default(false),
  /** v2 paid jobs: per chain id, the tokens accepted through the escrow and their per-resource prices. */
  escrowFees: z.record(chainIdKey, z.array(escrowFeeSchema)).optional(),
  /** v2: the least a job may ask for (default: the per-job amounts above, i.e. every job is that size). */
  minimums: jobSizeSchema.optional(),
  /** v2: the free tier, if this environment offers one. */
  free: freeTierSchema.optional(),
  /** Who may start paid jobs, v2's and all of v1's (ocean-node's environment `access`; the free tier has its own). */
  access: accessSchema.optional(),
});
export type Environment = z.infer<typeof environmentSchema>;

/** The per-job maxima: what a v1 job always gets. */
export function jobMaxima(env: Environment): JobSize {
  return { cpu: env.cpu, memoryMiB: env.memoryMiB, diskMiB: env.diskMiB };
}

/** The per-job minima (the maxima when the environment names none). */
export function jobMinima(env: Environment): JobSize {
  return env.minimums ?? jobMaxima(env);
}

function withinSize(inner: JobSize, outer: JobSize): boolean {
  return inner.cpu <= outer.cpu && inner.memoryMiB <= outer.memoryMiB && inner.diskMiB <= outer.diskMiB;
}

const environmentsSchema = z
  .array(
    environmentSchema
      .refine((e) => withinSize(jobMinima(e), jobMaxima(e)), {
        message: 'minimums must not exceed cpu, memoryMiB and diskMiB',
        path: ['minimums'],
      })
      .refine((e) => !e.free || withinSize(e.free, jobMaxima(e)), {
        message: "the free tier's cpu, memoryMiB and diskMiB must not exceed the environment's",
        path: ['free'],
      })
      .refine((e) => !e.free || withinSize(jobMinima(e), e.free), {
        message: "the free tier's cpu, memoryMiB and diskMiB must not be below the minimums",
        path: ['free'],
      }),
  )
  .refine((envs) => new Set(envs.map((e) => e.id)).size === envs.length, 'environment ids must be unique');

export function parseEnvironments(input: unknown): Environment[] {
  return environmentsSchema.parse(input);
}

/** The environments a ConfigMap lists; an absent key means none. Throws on malformed content. */
export function environmentsFromConfigMap(cm: V1ConfigMap): Environment[] {
  const raw = cm.data?.[ENVIRONMENTS_KEY];
  if (raw === undefined) return [];
  return parseEnvironments(JSON.parse(raw));
}

export function environmentsToConfigMapData(envs: Environment[]): Record<string, string> {
  return { [ENVIRONMENTS_KEY]: JSON.stringify(parseEnvironments(envs), null, 2) };
}

export function findEnvironment(envs: readonly Environment[], id: string): Environment | undefined {
  return envs.find((e) => e.id === id);
}
