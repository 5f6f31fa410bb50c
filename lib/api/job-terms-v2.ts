import { badRequest } from '../http/errors.ts';
import { jobMaxima, jobMinima, type Environment, type JobSize } from '../job/environments.ts';
import { sizeAmounts } from './environments-v2.ts';
import type { ResourceAmount } from './job-payment.ts';

/**
 * What a v2 job may have in an environment (pure): its size from the requested resources, its duration, and who
 * may use the free tier. ocean-node's rules (compute_engine_base.ts checkAndFillMissingResources): each requested
 * amount within the environment's min and max (the free tier's max for a free job), a resource not requested gets
 * its minimum, an unknown resource is refused.
 */

export type Tier = 'free' | 'paid';

const MIB_PER_GIB = 1024;

function maxima(env: Environment, tier: Tier): JobSize {
  if (tier === 'paid') return jobMaxima(env);
  const free = requireFreeTier(env);
  return { cpu: free.cpu, memoryMiB: free.memoryMiB, diskMiB: free.diskMiB };
}

export function requireFreeTier(env: Environment): NonNullable<Environment['free']> {
  if (!env.free) throw badRequest('environment', `environment ${env.id} has no free tier`);
  return env.free;
}

/** The job's size; 400 naming `resources.N.amount` (or `.id`) for a request outside the environment's limits. */
export function resolveJobSize(
  env: Environment,
  requested: readonly ResourceAmount[] | undefined,
  tier: Tier,
): JobSize {
  const lo = sizeAmounts(jobMinima(env));
  const hi = sizeAmounts(maxima(env, tier));
  const amounts = { ...lo };
  const seen = new Set<string>();
  (requested ?? []).forEach((r, i) => {
    if (seen.has(r.id)) throw badRequest(`resources.${i}.id`, `requests ${r.id} twice`);
    seen.add(r.id);
    if (r.amount < lo[r.id] || r.amount > hi[r.id]) {
      throw badRequest(
        `resources.${i}.amount`,
        `${r.id} must be between ${lo[r.id]} and ${hi[r.id]} in environment ${env.id}${tier === 'free' ? "'s free tier" : ''}`,
      );
    }
    amounts[r.id] = r.amount;
  });
  return {
    cpu: amounts.cpu,
    memoryMiB: Math.round(amounts.ram * MIB_PER_GIB),
    diskMiB: Math.round(amounts.disk * MIB_PER_GIB),
  };
}

/** Every resource of a job size, as ocean-node lists a job's resources. */
export function resourceAmounts(size: JobSize): ResourceAmount[] {
  const a = sizeAmounts(size);
  return [
    { id: 'cpu', amount: a.cpu },
    { id: 'ram', amount: a.ram },
    { id: 'disk', amount: a.disk },
  ];
}

/** The job's maximum duration in seconds: as requested, at most the tier's maximum (its maximum when not given). */
export function resolveDuration(env: Environment, requested: number | undefined, tier: Tier): number {
  const max = tier === 'paid' ? env.maxJobDurationSeconds : requireFreeTier(env).maxJobDurationSeconds;
  if (requested === undefined) return max;
  if (requested > max) {
    throw badRequest('maxJobDuration', `must be at most ${max} seconds in environment ${env.id}`);
  }
  return requested;
}
