import { getAddress } from 'ethers';
import { containerSectionChecksum } from './algo-checksums.ts';
import type { AlgorithmContainer, ComputeOptions, Credentials, Ddo, DdoService } from './ddo.ts';
import { deny } from './errors.ts';

/**
 * Whether a compute job may run, from the DDOs alone (pure). Chain facts the decision needs — the algorithm NFT's
 * owner, the checksum of the algorithm's files — are computed by the caller and passed in.
 */

export interface ServiceRef {
  service: DdoService;
  /** Position in `ddo.services`: what OrderStarted.serviceIndex must say. */
  index: number;
}

export function findService(ddo: Ddo, serviceId: string, field = 'serviceId'): ServiceRef {
  const index = ddo.services.findIndex((s) => s.id === serviceId);
  const service = ddo.services[index];
  if (!service) throw deny('SERVICE_NOT_FOUND', `${ddo.id} has no service ${serviceId}`, field);
  return { service, index };
}

/** Scheme, host, port and path, without trailing slashes; undefined for a string that is not an http(s) URL. */
export function normaliseEndpoint(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch {
    return undefined;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return undefined;
  return `${parsed.protocol}//${parsed.host}${parsed.pathname.replace(/\/+$/, '')}`;
}

export function isOurEndpoint(serviceEndpoint: string, providerUrls: readonly string[]): boolean {
  const endpoint = normaliseEndpoint(serviceEndpoint);
  return endpoint !== undefined && providerUrls.some((u) => normaliseEndpoint(u) === endpoint);
}

function addressIn(list: readonly string[], address: string): boolean {
  const wanted = address.toLowerCase();
  return list.some((entry) => entry.toLowerCase() === wanted);
}

/** Ocean's address credentials: a deny entry refuses; a non-empty allow list must name the consumer. */
export function checkCredentials(credentials: Credentials | undefined, consumer: string, what: string): void {
  if (!credentials) return;
  const values = (entries: Credentials['allow']) =>
    entries.filter((c) => c.type.toLowerCase() === 'address').flatMap((c) => c.values);
  if (addressIn(values(credentials.deny), consumer)) {
    throw deny('CONSUMER_NOT_ALLOWED', `${consumer} is on the deny list of ${what}`, 'consumerAddress');
  }
  const allow = values(credentials.allow);
  if (allow.length > 0 && !addressIn(allow, consumer)) {
    throw deny('CONSUMER_NOT_ALLOWED', `${consumer} is not on the allow list of ${what}`, 'consumerAddress');
  }
}

export interface PolicyContext {
  /** The URLs this provider is reached at; a service must name one of them. */
  providerUrls: readonly string[];
  consumerAddress: string;
}

type DatasetRole = 'main' | 'additional';

/**
 * The main dataset's service must be `compute`; an additional dataset may also be `access` (Ocean allows both).
 * Either way the service must be served by this provider (only it can decrypt the files) and allow the consumer.
 */
function checkDatasetService(
  ddo: Ddo,
  serviceId: string,
  role: DatasetRole,
  ctx: PolicyContext,
  field: string,
): ServiceRef {
  const ref = findService(ddo, serviceId, `${field}.serviceId`);
  const { service } = ref;
  if (role === 'main' && service.type !== 'compute') {
    throw deny(
      'SERVICE_NOT_COMPUTE',
      `service ${service.id} of ${ddo.id} is ${service.type}, not compute`,
      `${field}.serviceId`,
    );
  }
  if (service.type !== 'compute' && service.type !== 'access') {
    throw deny('SERVICE_NOT_USABLE', `service ${service.id} of ${ddo.id} is ${service.type}`, `${field}.serviceId`);
  }
  if (!isOurEndpoint(service.serviceEndpoint, ctx.providerUrls)) {
    throw deny(
      'SERVICE_ENDPOINT_NOT_OURS',
      `service ${service.id} of ${ddo.id} is served by ${service.serviceEndpoint}, not by this provider`,
      `${field}.serviceId`,
    );
  }
  checkCredentials(ddo.credentials, ctx.consumerAddress, ddo.id);
  checkCredentials(service.credentials, ctx.consumerAddress, `service ${service.id} of ${ddo.id}`);
  return ref;
}

const IMAGE_DIGEST = /^sha256:[0-9a-f]{64}$/;

/** The container must pin its image by digest: `sha256:` + 64 lower-case hex digits. */
function checkContainer(container: AlgorithmContainer | undefined, what: string): AlgorithmContainer {
  if (!container) throw deny('ALGORITHM_CONTAINER_INVALID', `${what} has no container`, 'algorithm');
  if (!IMAGE_DIGEST.test(container.checksum)) {
    throw deny(
      'ALGORITHM_CONTAINER_INVALID',
      `${what}'s container checksum must be sha256: followed by 64 hex digits`,
      'algorithm',
    );
  }
  return container;
}

/** A published algorithm, with what the caller established on chain and by downloading its files. */
export interface PublishedAlgorithmFacts {
  kind: 'published';
  ddo: Ddo;
  serviceId: string;
  /** Owner of the algorithm's data NFT (its publisher), from the chain. */
  owner: string;
  /**
   * Recomputed from the algorithm's decrypted files (see algo-checksums.ts); undefined before they are downloaded,
   * when pinned files checksums are not compared yet (see `filesChecksumPinned`).
   */
  filesChecksum?: string | undefined;
}

export interface RawAlgorithmMeta {
  kind: 'raw';
  rawcode?: string | undefined;
  url?: string | undefined;
  container: AlgorithmContainer;
}

interface CheckedPublishedAlgorithm extends ServiceRef {
  kind: 'published';
  did: string;
  container: AlgorithmContainer;
  filesChecksum: string | undefined;
  containerSectionChecksum: string;
  owner: string;
}

interface CheckedRawAlgorithm {
  kind: 'raw';
  container: AlgorithmContainer;
  source: 'rawcode' | 'url';
}

export type CheckedAlgorithm = CheckedPublishedAlgorithm | CheckedRawAlgorithm;

/** The algorithm's own DDO: an algorithm with a digest-pinned container, its service usable here by the consumer. */
export function checkAlgorithmDdo(
  ddo: Ddo,
  serviceId: string,
  ctx: PolicyContext,
): ServiceRef & { container: AlgorithmContainer } {
  if (ddo.metadata.type !== 'algorithm') {
    throw deny(
      'ALGORITHM_NOT_ALGORITHM',
      `${ddo.id} is a ${ddo.metadata.type}, not an algorithm`,
      'algorithm.documentId',
    );
  }
  const container = checkContainer(ddo.metadata.algorithm?.container, `algorithm ${ddo.id}`);
  const index = ddo.services.findIndex((s) => s.id === serviceId);
  const service = ddo.services[index];
  if (!service) {
    throw deny('ALGORITHM_SERVICE_NOT_FOUND', `${ddo.id} has no service ${serviceId}`, 'algorithm.serviceId');
  }
  if (service.type !== 'access' && service.type !== 'compute') {
    throw deny(
      'ALGORITHM_SERVICE_NOT_USABLE',
      `service ${service.id} of ${ddo.id} is ${service.type}`,
      'algorithm.serviceId',
    );
  }
  if (!isOurEndpoint(service.serviceEndpoint, ctx.providerUrls)) {
    throw deny(
      'ALGORITHM_SERVICE_NOT_USABLE',
      `service ${service.id} of algorithm ${ddo.id} is served by ${service.serviceEndpoint}, not by this provider`,
      'algorithm.serviceId',
    );
  }
  checkCredentials(ddo.credentials, ctx.consumerAddress, ddo.id);
  checkCredentials(service.credentials, ctx.consumerAddress, `service ${service.id} of ${ddo.id}`);
  return { service, index, container };
}

function checkPublishedAlgorithm(algo: PublishedAlgorithmFacts, ctx: PolicyContext): CheckedPublishedAlgorithm {
  const { service, index, container } = checkAlgorithmDdo(algo.ddo, algo.serviceId, ctx);
  return {
    kind: 'published',
    did: algo.ddo.id,
    service,
    index,
    container,
    filesChecksum: algo.filesChecksum?.toLowerCase(),
    containerSectionChecksum: containerSectionChecksum(container),
    owner: getAddress(algo.owner),
  };
}

function checkRawAlgorithm(meta: RawAlgorithmMeta): CheckedRawAlgorithm {
  const container = checkContainer(meta.container, 'the raw algorithm');
  const hasCode = typeof meta.rawcode === 'string' && meta.rawcode.length > 0;
  const hasUrl = typeof meta.url === 'string' && meta.url.length > 0;
  if (hasCode === hasUrl) {
    throw deny('RAW_ALGORITHM_INVALID', 'a raw algorithm needs exactly one of rawcode and url', 'algorithm.meta');
  }
  if (hasUrl && !/^https?:\/\//i.test(meta.url ?? '')) {
    throw deny('RAW_ALGORITHM_INVALID', 'a raw algorithm url must be http or https', 'algorithm.meta.url');
  }
  return { kind: 'raw', container, source: hasCode ? 'rawcode' : 'url' };
}

type TrustBasis = 'trusted-algorithm' | 'trusted-publisher' | 'raw-allowed';

/**
 * Whether a compute service permits the algorithm.
 * - Raw algorithms only where `allowRawAlgorithm` is true.
 * - A published algorithm listed in `publisherTrustedAlgorithms` is permitted when its recomputed checksums equal the
 *   pinned ones (an empty pinned checksum pins nothing, as in Ocean's provider); a listed algorithm whose files or
 *   container changed is refused even if its publisher is trusted — the pin is the more specific statement. Before
 *   the files are downloaded (filesChecksum undefined) their pin is not compared: trust is decided from everything
 *   else first, so that nothing is downloaded for an algorithm that cannot pass.
 * - Otherwise a published algorithm is permitted when its NFT owner is in `publisherTrustedAlgorithmPublishers`.
 * - Nothing listed means no published algorithm is permitted.
 */
function checkAlgorithmPermitted(
  options: ComputeOptions | undefined,
  algorithm: CheckedAlgorithm,
  what: string,
): TrustBasis {
  const compute = options ?? {
    allowRawAlgorithm: false,
    allowNetworkAccess: false,
    publisherTrustedAlgorithmPublishers: [],
    publisherTrustedAlgorithms: [],
  };
  if (algorithm.kind === 'raw') {
    if (!compute.allowRawAlgorithm)
      throw deny('RAW_ALGORITHM_NOT_ALLOWED', `${what} does not allow raw algorithms`, 'algorithm.meta');
    return 'raw-allowed';
  }
  const pinned = compute.publisherTrustedAlgorithms.find((t) => t.did === algorithm.did);
  if (pinned) {
    const files = algorithm.filesChecksum;
    if (pinned.filesChecksum !== '' && files !== undefined && pinned.filesChecksum.toLowerCase() !== files) {
      throw deny(
        'ALGORITHM_FILES_CHANGED',
        `the files of ${algorithm.did} changed since ${what} trusted it`,
        'algorithm.documentId',
      );
    }
    if (
      pinned.containerSectionChecksum !== '' &&
      pinned.containerSectionChecksum.toLowerCase() !== algorithm.containerSectionChecksum
    ) {
      throw deny(
        'ALGORITHM_CONTAINER_CHANGED',
        `the container of ${algorithm.did} changed since ${what} trusted it`,
        'algorithm.documentId',
      );
    }
    return 'trusted-algorithm';
  }
  if (addressIn(compute.publisherTrustedAlgorithmPublishers, algorithm.owner)) return 'trusted-publisher';
  throw deny(
    'ALGORITHM_NOT_TRUSTED',
    `${what} trusts neither algorithm ${algorithm.did} nor its publisher`,
    'algorithm.documentId',
  );
}

export interface PolicyInput extends PolicyContext {
  /** The main dataset first, then the additional ones. */
  datasets: readonly { ddo: Ddo; serviceId: string }[];
  algorithm: PublishedAlgorithmFacts | RawAlgorithmMeta;
}

export interface CheckedDataset extends ServiceRef {
  did: string;
  ddo: Ddo;
}

export interface ComputePermit {
  datasets: CheckedDataset[];
  algorithm: CheckedAlgorithm;
  /** Whether the algorithm pod may reach the network: only if every compute service involved allows it. */
  allowNetworkAccess: boolean;
  /** Per dataset, why its compute service permitted the algorithm (undefined for access services). */
  trust: (TrustBasis | undefined)[];
}

/** The whole decision for one job: every dataset's service, and every compute service permitting the algorithm. */
export function evaluateComputePolicy(input: PolicyInput): ComputePermit {
  if (input.datasets.length === 0) throw deny('SERVICE_NOT_FOUND', 'no dataset given', 'dataset');
  const ctx: PolicyContext = { providerUrls: input.providerUrls, consumerAddress: input.consumerAddress };
  const algorithm =
    input.algorithm.kind === 'raw' ? checkRawAlgorithm(input.algorithm) : checkPublishedAlgorithm(input.algorithm, ctx);
  const datasets: CheckedDataset[] = [];
  const trust: (TrustBasis | undefined)[] = [];
  let allowNetworkAccess = true;
  input.datasets.forEach(({ ddo, serviceId }, i) => {
    const field = i === 0 ? 'dataset' : `additionalDatasets.${i - 1}`;
    const ref = checkDatasetService(ddo, serviceId, i === 0 ? 'main' : 'additional', ctx, field);
    datasets.push({ did: ddo.id, ddo, ...ref });
    if (ref.service.type === 'compute') {
      trust.push(checkAlgorithmPermitted(ref.service.compute, algorithm, `service ${ref.service.id} of ${ddo.id}`));
      allowNetworkAccess &&= ref.service.compute?.allowNetworkAccess ?? false;
    } else {
      trust.push(undefined);
    }
  });
  return { datasets, algorithm, allowNetworkAccess, trust };
}

/**
 * Whether the permit still hangs on the algorithm's files: a compute service permitted it by a pin with a files
 * checksum that was not compared yet. The caller then downloads the files and evaluates again with their checksum.
 */
export function filesChecksumPinned(permit: ComputePermit): boolean {
  const algorithm = permit.algorithm;
  if (algorithm.kind !== 'published' || algorithm.filesChecksum !== undefined) return false;
  return permit.datasets.some(
    (d, i) =>
      permit.trust[i] === 'trusted-algorithm' &&
      d.service.compute?.publisherTrustedAlgorithms.some((t) => t.did === algorithm.did && t.filesChecksum !== '') ===
        true,
  );
}
