import type { V1ConfigMap } from '@kubernetes/client-node';
import { InvalidJobConfigMap, readJobConfigMap } from '../job/configmap.ts';
import {
  jobMaxima,
  jobMinima,
  type Access,
  type Environment,
  type JobSize,
  type ResourceId,
} from '../job/environments.ts';
import { isFinal, StatusCode } from '../job/status.ts';

/**
 * ocean-node's v2 compute environment (src/@types/C2D/C2D.ts ComputeEnvironment), computed from the same
 * environment definitions the engine admits jobs by. Resources are in ocean-node's units — cpu in cores, ram and
 * disk in GiB — and per job: `max` is what a v1 job always gets, `min` the least a v2 job may ask for, `total` what
 * the environment's concurrent jobs may hold together, `inUse` what its running jobs hold now.
 */

/** What one unfinished job holds. */
export interface JobLoad {
  environment: string;
  free: boolean;
  /** Waiting for a slot (status 1): holds nothing yet. */
  queued: boolean;
  size: JobSize;
}

/** The load of every unfinished job among the job ConfigMaps; invalid ones are left out (status logs them). */
export function jobLoads(items: readonly V1ConfigMap[]): JobLoad[] {
  const loads: JobLoad[] = [];
  for (const cm of items) {
    let job;
    try {
      job = readJobConfigMap(cm);
    } catch (err) {
      if (err instanceof InvalidJobConfigMap) continue;
      throw err;
    }
    if (isFinal(job.status.code)) continue;
    const { limits } = job.workflow;
    loads.push({
      environment: job.workflow.environment,
      free: job.workflow.billing === 'free',
      queued: job.status.code === StatusCode.WarmingUp,
      size: { cpu: limits.cpu, memoryMiB: limits.memoryMiB, diskMiB: limits.diskMiB },
    });
  }
  return loads;
}

export interface V2Resource {
  id: ResourceId;
  type: ResourceId;
  kind: 'cpu' | 'ram' | 'disk';
  total: number;
  min: number;
  max: number;
  inUse: number;
}

const GIB = 1024;

/** A job size in ocean-node's units. */
export function sizeAmounts(size: JobSize): Record<ResourceId, number> {
  return { cpu: size.cpu, ram: size.memoryMiB / GIB, disk: size.diskMiB / GIB };
}

function resources(min: JobSize, max: JobSize, slots: number, running: readonly JobLoad[]): V2Resource[] {
  const lo = sizeAmounts(min);
  const hi = sizeAmounts(max);
  const used = running.map((l) => sizeAmounts(l.size));
  return (['cpu', 'ram', 'disk'] as const).map((id) => ({
    id,
    type: id,
    kind: id,
    total: hi[id] * slots,
    min: lo[id],
    max: hi[id],
    inUse: used.reduce((sum, u) => sum + u[id], 0),
  }));
}

/** ocean-node's ComputeAccessList: `accessLists` null when none is configured. */
function v2Access(access: Access | undefined): { addresses: string[]; accessLists: Record<string, string[]>[] | null } {
  return { addresses: access?.addresses ?? [], accessLists: access?.accessLists ?? null };
}

export function toV2Environment(env: Environment, chainId: number, loads: readonly JobLoad[]) {
  const mine = loads.filter((l) => l.environment === env.id);
  const running = mine.filter((l) => !l.queued);
  const queued = mine.filter((l) => l.queued);
  const free = env.free;
  return {
    id: env.id,
    description: env.description,
    consumerAddress: env.consumerAddress,
    storageExpiry: env.storageExpirySeconds,
    maxJobDuration: env.maxJobDurationSeconds,
    maxJobs: env.maxConcurrentJobs,
    fees: { [chainId]: env.escrowFees?.[String(chainId)] ?? [] },
    resources: resources(jobMinima(env), jobMaxima(env), env.maxConcurrentJobs, running),
    access: v2Access(env.access),
    enableNetwork: env.allowNetworkAccess,
    runningJobs: running.length,
    runningfreeJobs: running.filter((l) => l.free).length,
    queuedJobs: queued.length,
    queuedFreeJobs: queued.filter((l) => l.free).length,
    ...(free && {
      free: {
        storageExpiry: env.storageExpirySeconds,
        maxJobDuration: free.maxJobDurationSeconds,
        maxJobs: free.maxConcurrentJobs,
        resources: resources(
          jobMinima(env),
          free,
          free.maxConcurrentJobs,
          running.filter((l) => l.free),
        ),
        access: v2Access(free.access),
      },
    }),
  };
}
export type V2Environment = ReturnType<typeof toV2Environment>;
