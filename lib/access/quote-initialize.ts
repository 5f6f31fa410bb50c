import type { Environment } from '../job/environments.ts';
import { checkJob, type AccessSettings, type AlgorithmRef, type AssetRef } from './check-job.ts';
import { AccessDenied } from './errors.ts';
import { initializeCompute, type InitializeResult } from './initialize.ts';

/**
 * `initializeCompute`: the job is checked exactly as `start` will check it (DDOs, algorithm, compute policy), and
 * then each asset gets the datatoken to order and a provider fee — or the order the consumer already holds.
 */

export interface InitializeInput {
  consumer: string;
  /** The main dataset first. */
  datasets: readonly AssetRef[];
  algorithm: AlgorithmRef;
  environment: Environment;
  validUntil: number;
  /** Unix seconds; default the wall clock. */
  now?: number;
}

/**
 * The compute policy names datasets as start's request does (`dataset`, `additionalDatasets.N`); this request
 * lists them all under `datasets`.
 */
export function initializeField(field: string | undefined): string | undefined {
  if (field === undefined) return undefined;
  if (field === 'dataset' || field.startsWith('dataset.')) return `datasets.0${field.slice('dataset'.length)}`;
  const additional = /^additionalDatasets\.(\d+)(.*)$/.exec(field);
  if (additional) return `datasets.${Number(additional[1]) + 1}${additional[2] ?? ''}`;
  return field;
}

export async function quoteInitialize(settings: AccessSettings, input: InitializeInput): Promise<InitializeResult> {
  let checked;
  try {
    checked = await checkJob(
      settings,
      input.consumer,
      input.datasets.map((ref, i) => ({ ref, field: `datasets.${i}` })),
      input.algorithm,
    );
  } catch (err) {
    if (!(err instanceof AccessDenied)) throw err;
    throw new AccessDenied(err.code, err.message, initializeField(err.field));
  }
  const { permit } = checked;
  const algo = permit.algorithm;
  const algoDdo = checked.algorithm?.resolved.ddo;
  return initializeCompute(settings.chain, settings.key, {
    datasets: permit.datasets.map((d, i) => ({
      ddo: d.ddo,
      service: d,
      transferTxId: input.datasets[i]?.transferTxId,
      field: `datasets.${i}`,
    })),
    algorithm:
      algo.kind === 'published' && algoDdo
        ? { ddo: algoDdo, service: algo, transferTxId: input.algorithm.transferTxId, field: 'algorithm' }
        : undefined,
    environment: input.environment,
    validUntil: input.validUntil,
    consumerAddress: input.consumer,
    ...(input.now !== undefined && { now: input.now }),
  });
}
