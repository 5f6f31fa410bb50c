import { z } from 'zod';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { ENVIRONMENT_ID_PATTERN } from './names.ts';

/**
 * Compute environments: what a job may use and how many may run at once. The publisher lists them in one
 * ConfigMap (`ENVIRONMENTS_CONFIGMAP`, key `ENVIRONMENTS_KEY`) as a JSON array.
 */

export const ENVIRONMENTS_CONFIGMAP = 'c2d-environments';
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
});
export type Environment = z.infer<typeof environmentSchema>;

const environmentsSchema = z
  .array(environmentSchema)
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
