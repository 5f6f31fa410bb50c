import type { Environment } from '../job/environments.ts';
import {
  containerSchema,
  type Algorithm,
  type Container,
  type Dataset,
  type FileAccess as SecretFileAccess,
  type JobSecretData,
  JOB_SECRET_VERSION,
} from '../job/workflow.ts';
import { checkJob, allInOrder, type AccessSettings, type AlgorithmRef, type AssetRef } from './check-job.ts';
import type { CheckedAlgorithm, CheckedDataset, ServiceRef } from './compute-policy.ts';
import type { AlgorithmContainer, Ddo } from './ddo.ts';
import { AccessDenied, deny } from './errors.ts';
import { checkFeePaid, feeTermsFor } from './fees.ts';
import { verifyOrder, type OrderProof } from './order.ts';
import { decryptServiceFiles, toFileAccess, type FileAccess, type FileRules } from './service-files.ts';

/**
 * The access checks of `start`, in Ocean's order: DDOs from the chain → algorithm → compute policy → every order
 * (main dataset, additional datasets, published algorithm) with its provider fee → the environment's price paid →
 * the files decrypted. What it grants is the job's inputs for the workflow, and the secrets for the job's Secret.
 */

/**
 * A fee that runs out within this many seconds cannot pay for a job: the job runs until the earliest fee's
 * validUntil (at most the environment's maximum), and shorter than this is no job.
 */
const MIN_JOB_SECONDS = 60;

export interface StartInput {
  /** Checksummed address that signed the request. */
  consumer: string;
  dataset: AssetRef;
  additionalDatasets: readonly AssetRef[];
  algorithm: AlgorithmRef;
  environment: Environment;
  /** Unix seconds; default the wall clock. */
  now?: number;
}

/** What the checks grant: the job's inputs as the workflow records them, and the secrets only configure may read. */
export interface StartGrant {
  datasets: Dataset[];
  algorithm: Algorithm;
  allowNetworkAccess: boolean;
  /** How long the job may run: until the earliest provider fee expires, at most the environment's maximum. */
  maxDurationSeconds: number;
  /** Every order transaction the job stands on (a reuse and the order it reuses): none may back another job. */
  orders: string[];
  secret: JobSecretData;
}

function datasetField(i: number): string {
  return i === 0 ? 'dataset' : `additionalDatasets.${i - 1}`;
}

/** The DDO's container as the workflow schema takes it; one the pod could not run is refused here, not at start-up. */
export function workflowContainer(container: AlgorithmContainer): Container {
  const parsed = containerSchema.safeParse({
    image: container.image,
    tag: container.tag,
    entrypoint: container.entrypoint,
    checksum: container.checksum,
  });
  if (!parsed.success) {
    const where = parsed.error.issues[0]?.path.join('.') ?? 'container';
    throw deny('ALGORITHM_CONTAINER_INVALID', `the algorithm's container ${where} cannot be run here`, 'algorithm');
  }
  return parsed.data;
}

/** The job may run until the earliest fee expires (0 = no expiry), at most the environment's maximum. */
export function jobDuration(proofs: readonly OrderProof[], maxJobDurationSeconds: number, now: number): number {
  const expiries = proofs.map((p) => p.providerFee.validUntil).filter((v) => v !== 0);
  const paid = expiries.length > 0 ? Math.min(...expiries) - now : maxJobDurationSeconds;
  return Math.min(maxJobDurationSeconds, paid);
}

export interface GrantParts {
  datasets: readonly {
    did: string;
    serviceId: string;
    transferTxId: string;
    files: readonly FileAccess[];
    document: string;
  }[];
  algorithm:
    | {
        kind: 'published';
        did: string;
        serviceId: string;
        transferTxId: string;
        container: AlgorithmContainer;
        files: readonly FileAccess[];
        /** sha256 of each file as downloaded for the checks: the configure pod runs nothing else. */
        digests: readonly string[];
        document: string;
      }
    | { kind: 'raw'; container: AlgorithmContainer; rawcode?: string | undefined; url?: string | undefined };
  allowNetworkAccess: boolean;
  maxDurationSeconds: number;
  proofs: readonly OrderProof[];
  fileRules: FileRules;
}

const fileMetas = (files: readonly unknown[]) => files.map((_, index) => ({ index }));

function secretFile(file: FileAccess): SecretFileAccess {
  return { url: file.url, method: file.method, headers: { ...file.headers } };
}

function ddoJson(document: string): Record<string, unknown> {
  return JSON.parse(document) as Record<string, unknown>;
}

/** A raw algorithm's URL is fetched by the configure pod: it is held to the same rules as published files. */
function rawAlgorithmFile(url: string | undefined, rules: FileRules): FileAccess {
  try {
    return toFileAccess({ type: 'url', url, method: 'GET' }, 'the raw algorithm url', rules);
  } catch (err) {
    if (err instanceof AccessDenied) throw new AccessDenied(err.code, err.message, 'algorithm.meta.url');
    throw err;
  }
}

/** Assembles the grant from what the checks established (pure). */
export function buildStartGrant(parts: GrantParts): StartGrant {
  const ddos: Record<string, Record<string, unknown>> = {};
  const secretDatasets: Record<string, SecretFileAccess[]> = {};
  const datasets: Dataset[] = parts.datasets.map((d) => {
    secretDatasets[d.did] = d.files.map(secretFile);
    ddos[d.did] = ddoJson(d.document);
    return {
      did: d.did,
      serviceId: d.serviceId,
      transferTxId: d.transferTxId.toLowerCase(),
      files: fileMetas(d.files),
    };
  });
  const a = parts.algorithm;
  const container = workflowContainer(a.container);
  let algorithm: Algorithm;
  let secretAlgorithm: JobSecretData['algorithm'];
  if (a.kind === 'published') {
    const [file, ...more] = a.files;
    if (!file || more.length > 0) {
      throw deny('FILES_UNSUPPORTED', `algorithm ${a.did} must consist of exactly one file`, 'algorithm.documentId');
    }
    const checksum = a.digests[0];
    if (checksum === undefined || a.digests.length !== a.files.length)
      throw new Error('the algorithm file was not downloaded for its digest');
    algorithm = {
      kind: 'published',
      did: a.did,
      serviceId: a.serviceId,
      transferTxId: a.transferTxId.toLowerCase(),
      container,
      files: [{ index: 0, checksum }],
    };
    secretAlgorithm = { kind: 'published', file: secretFile(file) };
    ddos[a.did] = ddoJson(a.document);
  } else if (a.rawcode) {
    algorithm = { kind: 'raw', container, source: 'rawcode' };
    secretAlgorithm = { kind: 'rawcode', rawcode: a.rawcode };
  } else {
    const file = rawAlgorithmFile(a.url, parts.fileRules);
    algorithm = { kind: 'raw', container, source: 'url' };
    secretAlgorithm = { kind: 'url', file: secretFile(file) };
  }
  const orders = new Set(parts.proofs.flatMap((p) => [p.txId, p.orderTxId].map((t) => t.toLowerCase())));
  return {
    datasets,
    algorithm,
    allowNetworkAccess: parts.allowNetworkAccess,
    maxDurationSeconds: parts.maxDurationSeconds,
    orders: [...orders],
    secret: { version: JOB_SECRET_VERSION, datasets: secretDatasets, algorithm: secretAlgorithm, ddos },
  };
}

interface OrderToVerify {
  txId: string | undefined;
  ddo: Ddo;
  service: ServiceRef;
  field: string;
}

function ordersOf(
  input: StartInput,
  datasets: readonly CheckedDataset[],
  algorithm: CheckedAlgorithm,
  algoDdo: Ddo | undefined,
): OrderToVerify[] {
  const refs = [input.dataset, ...input.additionalDatasets];
  const orders: OrderToVerify[] = datasets.map((d, i) => ({
    txId: refs[i]?.transferTxId,
    ddo: d.ddo,
    service: d,
    field: `${datasetField(i)}.transferTxId`,
  }));
  if (algorithm.kind === 'published' && algoDdo) {
    orders.push({
      txId: input.algorithm.transferTxId,
      ddo: algoDdo,
      service: algorithm,
      field: 'algorithm.transferTxId',
    });
  }
  return orders;
}

/** Every check `start` needs; refusals are AccessDenied (400/403), RPC trouble is ChainUnavailable (503). */
export async function authorizeStart(settings: AccessSettings, input: StartInput): Promise<StartGrant> {
  const { chain, key } = settings;
  const now = input.now ?? Math.floor(Date.now() / 1000);
  const refs = [input.dataset, ...input.additionalDatasets];
  const checked = await checkJob(
    settings,
    input.consumer,
    refs.map((ref, i) => ({ ref, field: datasetField(i) })),
    input.algorithm,
    'always',
  );
  const { permit } = checked;
  const orders = ordersOf(input, permit.datasets, permit.algorithm, checked.algorithm?.resolved.ddo);
  const proofs = await allInOrder(
    orders.map(async (o) => {
      if (o.txId === undefined) throw deny('TX_ID_MALFORMED', 'the order transaction is required', o.field);
      return verifyOrder(chain, {
        txId: o.txId,
        ddo: o.ddo,
        service: o.service,
        consumerAddress: input.consumer,
        providerAddress: key.address,
        environmentId: input.environment.id,
        jobDurationSeconds: MIN_JOB_SECONDS,
        now,
        field: o.field,
      });
    }),
  );
  checkFeePaid(
    proofs.map((p) => p.providerFee),
    feeTermsFor(input.environment, chain.chainId),
  );
  const datasets = permit.datasets.map((d, i) => ({
    did: d.did,
    serviceId: d.service.id,
    transferTxId: proofs[i]!.txId,
    files: decryptServiceFiles(key.privateKey, d.ddo, d.service, settings.files),
    document: checked.datasets[i]!.document,
  }));
  const algo = permit.algorithm;
  const loaded = checked.algorithm;
  const algorithm: GrantParts['algorithm'] =
    algo.kind === 'published' && loaded
      ? {
          kind: 'published',
          did: algo.did,
          serviceId: algo.service.id,
          transferTxId: proofs[datasets.length]!.txId,
          container: algo.container,
          files: loaded.files,
          digests: checked.algorithmDigests ?? [],
          document: loaded.resolved.document,
        }
      : { kind: 'raw', container: algo.container, rawcode: checked.raw?.rawcode, url: checked.raw?.url };
  return buildStartGrant({
    datasets,
    algorithm,
    allowNetworkAccess: permit.allowNetworkAccess && input.environment.allowNetworkAccess,
    maxDurationSeconds: jobDuration(proofs, input.environment.maxJobDurationSeconds, now),
    proofs,
    fileRules: settings.files,
  });
}
