import type { DownloadRules } from './algo-checksums.ts';
import { checkOneFile, loadPublishedAlgorithm, withFileDigests, type LoadedAlgorithm } from './algorithm.ts';
import type { ChainContext, ProviderKey } from './chain-context.ts';
import {
  evaluateComputePolicy,
  filesChecksumPinned,
  type ComputePermit,
  type PolicyContext,
  type RawAlgorithmMeta,
} from './compute-policy.ts';
import type { AlgorithmContainer } from './ddo.ts';
import { AccessDenied, deny } from './errors.ts';
import { resolveDdo, type ChainResolvedDdo } from './resolve-ddo.ts';
import type { FileRules } from './service-files.ts';

/**
 * What start and initializeCompute share: every DDO resolved from the chain, the algorithm loaded (a published
 * one's files decrypted), and the compute policy applied to all of it. The policy is decided without downloading
 * first; the algorithm's file is downloaded only for an algorithm that passed it, and only when a pinned files
 * checksum needs it or the job must record its digest (start).
 */

/** How this provider reaches the chain and the files, and who it is. */
export interface AccessSettings {
  chain: ChainContext;
  key: ProviderKey;
  /** The URLs this provider is reached at; a DDO's services must name one. */
  providerUrls: readonly string[];
  files: FileRules & DownloadRules;
}

/** An asset as a request names it (ocean.js's ComputeAsset). */
export interface AssetRef {
  documentId: string;
  serviceId: string;
  transferTxId?: string | undefined;
}

/** The algorithm as a request names it (ocean.js's ComputeAlgorithm): published, or raw with `meta`. */
export interface AlgorithmRef {
  documentId?: string | undefined;
  serviceId?: string | undefined;
  transferTxId?: string | undefined;
  meta?:
    | {
        rawcode?: string | undefined;
        url?: string | undefined;
        container: AlgorithmContainer;
      }
    | undefined;
}

export interface JobCheck {
  /** The main dataset first, then the additional ones, as resolved from the chain. */
  datasets: ChainResolvedDdo[];
  /** Set for a published algorithm. */
  algorithm: LoadedAlgorithm | undefined;
  raw: RawAlgorithmMeta | undefined;
  permit: ComputePermit;
  /** sha256 of each file of a published algorithm, when downloaded. */
  algorithmDigests: string[] | undefined;
}

/**
 * `always`: download a published algorithm's file even when no pin needs it (start: the job records its digest and
 * the configure pod runs only those bytes). `when-pinned`: only when a pin's files checksum must be compared.
 */
export type DigestNeed = 'always' | 'when-pinned';

/**
 * Puts the request part at fault in front of a refusal's field (`documentId` → `dataset.documentId`); refusals
 * without a field are about the asset as a whole, so they name its documentId.
 */
export async function inField<T>(prefix: string, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (!(err instanceof AccessDenied) || err.field?.includes('.')) throw err;
    throw new AccessDenied(err.code, err.message, `${prefix}.${err.field ?? 'documentId'}`);
  }
}

/** Runs every task at once, but refuses with the first failure in task order, so refusals do not depend on timing. */
export async function allInOrder<T>(tasks: readonly Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(tasks);
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

function rawFacts(meta: NonNullable<AlgorithmRef['meta']>): RawAlgorithmMeta {
  return { kind: 'raw', rawcode: meta.rawcode, url: meta.url, container: meta.container };
}

/**
 * Resolves the datasets (`fields[i]` names each one in refusals) and the algorithm, and evaluates the policy for
 * `consumer`. Refusals are AccessDenied; RPC trouble is ChainUnavailable.
 */
export async function checkJob(
  settings: AccessSettings,
  consumer: string,
  datasets: readonly { ref: AssetRef; field: string }[],
  algorithm: AlgorithmRef,
  digests: DigestNeed = 'when-pinned',
): Promise<JobCheck> {
  const { chain, key, files } = settings;
  const policy: PolicyContext = { providerUrls: settings.providerUrls, consumerAddress: consumer };
  const raw = algorithm.meta !== undefined ? rawFacts(algorithm.meta) : undefined;
  const { documentId: algoDid, serviceId: algoService } = algorithm;
  if (!raw && (algoDid === undefined || algoService === undefined)) {
    throw deny('ALGORITHM_SERVICE_NOT_FOUND', 'a published algorithm needs documentId and serviceId', 'algorithm');
  }
  const [resolving, loading] = await Promise.allSettled([
    allInOrder(datasets.map(({ ref, field }) => inField(field, resolveDdo(chain, key.privateKey, ref.documentId)))),
    algoDid !== undefined && algoService !== undefined && !raw
      ? inField('algorithm', loadPublishedAlgorithm(chain, key.privateKey, algoDid, algoService, policy, files))
      : Promise.resolve(undefined),
  ]);
  if (resolving.status === 'rejected') throw resolving.reason;
  if (loading.status === 'rejected') throw loading.reason;
  const resolvedDatasets = resolving.value;
  const loadedAlgorithm = loading.value;
  const facts = loadedAlgorithm?.facts ?? raw;
  if (!facts) throw new Error('neither a published nor a raw algorithm passed the checks');
  const input = {
    ...policy,
    datasets: resolvedDatasets.map((r, i) => ({ ddo: r.ddo, serviceId: datasets[i]!.ref.serviceId })),
    algorithm: facts,
  };
  let permit = evaluateComputePolicy(input);
  let algorithmDigests: string[] | undefined;
  if (loadedAlgorithm) {
    checkOneFile(loadedAlgorithm);
    if (digests === 'always' || filesChecksumPinned(permit)) {
      const downloaded = await inField('algorithm', withFileDigests(loadedAlgorithm, files));
      algorithmDigests = downloaded.digests;
      permit = evaluateComputePolicy({ ...input, algorithm: downloaded.facts });
    }
  }
  return { datasets: resolvedDatasets, algorithm: loadedAlgorithm, raw, permit, algorithmDigests };
}
