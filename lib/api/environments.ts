import type { CoreV1Api } from '@kubernetes/client-node';
import { formatUnits } from 'ethers/utils';
import { badRequest } from '../http/errors.ts';
import { environmentsFromConfigMap, findEnvironment, type Environment } from '../job/environments.ts';
import { jobSelector, LABELS } from '../job/names.ts';
import { isFinal, parseStatusJson } from '../job/status.ts';
import { STATUS_KEY } from '../job/configmap.ts';
import { kubeStatus } from '../kube/errors.ts';

export interface EnvironmentSource {
  core: CoreV1Api;
  /** Where the publisher's environments ConfigMap lives, and its name. */
  namespace: string;
  name: string;
}

/** The environments the publisher configured; none when the ConfigMap does not exist. */
export async function loadEnvironments(source: EnvironmentSource): Promise<Environment[]> {
  try {
    return environmentsFromConfigMap(
      await source.core.readNamespacedConfigMap({ name: source.name, namespace: source.namespace }),
    );
  } catch (err) {
    if (kubeStatus(err) === 404) return [];
    throw err;
  }
}

/** The named environment, or 400 naming `field` when it is not offered. */
export async function requireEnvironment(source: EnvironmentSource, id: string, field: string): Promise<Environment> {
  const env = findEnvironment(await loadEnvironments(source), id);
  if (!env) throw badRequest(field, `unknown compute environment ${id}`);
  return env;
}

/** Unfinished jobs (queued or running) per environment id. */
export async function activeJobsByEnvironment(core: CoreV1Api, jobsNamespace: string): Promise<Map<string, number>> {
  const list = await core.listNamespacedConfigMap({ namespace: jobsNamespace, labelSelector: jobSelector('workflow') });
  const counts = new Map<string, number>();
  for (const cm of list.items) {
    const env = cm.metadata?.labels?.[LABELS.environment];
    const statusJson = cm.data?.[STATUS_KEY];
    if (env === undefined || statusJson === undefined) continue;
    let final: boolean;
    try {
      final = isFinal(parseStatusJson(statusJson).code);
    } catch {
      continue;
    }
    if (!final) counts.set(env, (counts.get(env) ?? 0) + 1);
  }
  return counts;
}

/** ocean.js's `ComputeEnvironment`, with the exact price and token of this chain's fee added. */
export function toOceanEnvironment(env: Environment, chainId: number, currentJobs: number, now: Date) {
  const fee = env.fees.find((f) => f.chainId === chainId);
  return {
    id: env.id,
    desc: env.description,
    cpuNumber: env.cpu,
    cpuType: '',
    gpuNumber: 0,
    gpuType: '',
    ramGB: env.memoryMiB / 1024,
    diskGB: env.diskMiB / 1024,
    // Informational, in whole tokens assuming 18 decimals (OCEAN and Ocean datatokens); pricePerMinute is exact.
    priceMin: fee ? Number(formatUnits(BigInt(fee.pricePerMinute), 18)) : 0,
    pricePerMinute: fee?.pricePerMinute ?? '0',
    feeToken: fee?.feeToken ?? null,
    currentJobs,
    maxJobs: env.maxConcurrentJobs,
    consumerAddress: env.consumerAddress,
    storageExpiry: env.storageExpirySeconds,
    maxJobDuration: env.maxJobDurationSeconds,
    allowNetworkAccess: env.allowNetworkAccess,
    lastSeen: Math.floor(now.getTime() / 1000),
  };
}
