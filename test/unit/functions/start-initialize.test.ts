import type { CoreV1Api } from '@kubernetes/client-node';
import { Wallet, getBytes, keccak256, toUtf8Bytes } from 'ethers';
import { describe, expect, it } from 'vitest';
import { createApp as createInitializeApp } from '../../../functions/initialize/app.ts';
import { createApp as createStartApp, type StartAuthorization } from '../../../functions/start/app.ts';
import type { StartGrant } from '../../../lib/access/authorize-start.ts';
import { deny } from '../../../lib/access/errors.ts';
import type { EnvironmentSource } from '../../../lib/api/environments.ts';
import type { JobStore } from '../../../lib/api/jobs.ts';
import type { AttachOutcome, Claim, HeldClaims, OrderClaims } from '../../../lib/api/order-claims.ts';
import type { NonceStore } from '../../../lib/auth/nonce-store.ts';
import { NONCE_FLOOR } from '../../../lib/auth/nonce-policy.ts';
import { conflict, unauthorized } from '../../../lib/http/errors.ts';
import { silentLogger } from '../../support/silent-logger.ts';
import type { JobConfigMap } from '../../../lib/job/configmap.ts';
import { environmentsToConfigMapData, type Environment } from '../../../lib/job/environments.ts';
import type { JobStatus } from '../../../lib/job/status.ts';
import { JOB_SECRET_VERSION, type JobSecretData, type Workflow } from '../../../lib/job/workflow.ts';

const consumer = new Wallet('0x' + '33'.repeat(32));
const DID = 'did:op:' + 'a1'.repeat(32);
const ALGO_DID = 'did:op:' + 'b2'.repeat(32);
const TX = (n: number) => '0x' + n.toString(16).padStart(2, '0').repeat(32);

const ENVIRONMENT: Environment = {
  id: 'small',
  description: '',
  cpu: 1,
  memoryMiB: 512,
  diskMiB: 512,
  maxJobDurationSeconds: 3600,
  maxConcurrentJobs: 2,
  storageExpirySeconds: 600,
  consumerAddress: '0x' + '11'.repeat(20),
  fees: [],
  allowNetworkAccess: true,
};

const sourceOf = (env: Environment) =>
  ({
    core: {
      readNamespacedConfigMap: async () => ({ data: environmentsToConfigMapData([env]) }),
    } as unknown as CoreV1Api,
    namespace: 'c2d-system',
    name: 'c2d-environments',
  }) satisfies EnvironmentSource;
const environments = sourceOf(ENVIRONMENT);

class MemoryNonces implements NonceStore {
  readonly nonces = new Map<string, bigint>();
  async current(address: string) {
    return this.nonces.get(address.toLowerCase()) ?? 0n;
  }
  async assertFresh(address: string, nonce: bigint) {
    if (nonce <= (await this.current(address))) throw unauthorized('stale nonce');
  }
  async advance(address: string, nonce: bigint) {
    await this.assertFresh(address, nonce);
    this.nonces.set(address.toLowerCase(), nonce);
  }
}

const GRANT: StartGrant = {
  datasets: [{ did: DID, serviceId: 'compute', transferTxId: TX(1), files: [{ index: 0 }] }],
  algorithm: {
    kind: 'published',
    did: ALGO_DID,
    serviceId: 'access',
    transferTxId: TX(2),
    container: { image: 'node', tag: '20', entrypoint: 'node $ALGO' },
    files: [{ index: 0, checksum: 'a'.repeat(64) }],
  },
  allowNetworkAccess: true,
  maxDurationSeconds: 420,
  orders: [TX(1), TX(2), TX(3)],
  secret: {
    version: JOB_SECRET_VERSION,
    datasets: { [DID]: [{ url: 'https://data.example/x.csv', method: 'GET', headers: {} }] },
    algorithm: { kind: 'published', file: { url: 'https://code.example/a.js', method: 'GET', headers: {} } },
    ddos: {},
  },
};

interface Harness {
  nonces: MemoryNonces;
  created: { workflow: Workflow; status: JobStatus; secret: JobSecretData }[];
  claimed: string[][];
  released: Claim[][];
  deleted: string[];
  asked: StartAuthorization[];
  app: ReturnType<typeof createStartApp>;
}

function harness(
  o: {
    authorize?: (r: StartAuthorization) => Promise<StartGrant>;
    claimConflict?: boolean;
    claimLost?: boolean;
    createFails?: boolean;
    environment?: Environment;
    holders?: string[];
  } = {},
): Harness {
  const h = {
    nonces: new MemoryNonces(),
    created: [],
    claimed: [],
    released: [],
    deleted: [],
    asked: [],
  } as unknown as Harness;
  const jobs = {
    async delete(job: JobConfigMap) {
      h.deleted.push(job.name);
    },
    async create(workflow: Workflow, status: JobStatus, secret: JobSecretData): Promise<JobConfigMap> {
      if (o.createFails) throw new Error('kubernetes said no');
      h.created.push({ workflow, status, secret });
      return {
        name: `c2d-job-${workflow.jobId}`,
        namespace: 'c2d-jobs',
        uid: 'u',
        resourceVersion: '1',
        workflow,
        status,
        stopRequestedAt: undefined,
      };
    },
  } as unknown as JobStore;
  const claims = {
    async claimAll(_chainId: number, txIds: string[], jobId: string): Promise<HeldClaims> {
      if (o.claimConflict) throw conflict(`order ${txIds[0]} already backs job x`);
      h.claimed.push(txIds);
      return { claims: txIds.map((t) => ({ name: `claim-${t}`, uid: jobId })), since: 0 };
    },
    assertInTime() {},
    async attach(held: HeldClaims): Promise<AttachOutcome> {
      return { lost: o.claimLost ? held.claims.slice(0, 1) : [], failed: [] };
    },
    async release(held: HeldClaims) {
      h.released.push(held.claims);
    },
  } as unknown as OrderClaims;
  h.app = createStartApp({
    logger: silentLogger,
    chainId: 8996,
    nonces: h.nonces,
    jobs,
    claims,
    accessLists: { chainId: 8996, holdsToken: async (_list, address) => (o.holders ?? []).includes(address) },
    environments: o.environment ? sourceOf(o.environment) : environments,
    authorize: async (request) => {
      h.asked.push(request);
      return o.authorize ? o.authorize(request) : GRANT;
    },
  });
  return h;
}

/** A start request signed over the nonce `step` above the floor every address starts at. */
async function startBody(step: number, over: Record<string, unknown> = {}) {
  const nonce = NONCE_FLOOR + BigInt(step);
  const signature = await consumer.signMessage(getBytes(keccak256(toUtf8Bytes(consumer.address + DID + nonce))));
  return {
    consumerAddress: consumer.address,
    nonce: String(nonce),
    signature,
    environment: 'small',
    dataset: { documentId: DID, serviceId: 'compute', transferTxId: TX(1) },
    algorithm: { documentId: ALGO_DID, serviceId: 'access', transferTxId: TX(2), algocustomdata: { k: 1 } },
    ...over,
  };
}

const post = (app: Harness['app'], body: unknown) =>
  app.request('/api/services/compute', { method: 'POST', body: JSON.stringify(body) });

describe('start', () => {
  it('creates the job the checks granted, claims every order they name, and takes the nonce', async () => {
    const h = harness();
    const res = await post(h.app, await startBody(1));
    expect(res.status).toBe(200);
    const [job] = (await res.json()) as Record<string, unknown>[];
    expect(job).toMatchObject({ status: 1, owner: consumer.address, did: DID, algoDID: ALGO_DID, agreementId: TX(1) });
    expect(h.asked[0]).toMatchObject({
      consumer: consumer.address,
      environment: { id: 'small' },
      additionalDatasets: [],
    });
    const { workflow, secret } = h.created[0]!;
    expect(workflow).toMatchObject({
      owner: consumer.address.toLowerCase(),
      environment: 'small',
      allowNetworkAccess: true,
      limits: { maxDurationSeconds: 420, cpu: 1, memoryMiB: 512, diskMiB: 512 },
      algoCustomData: { k: 1 },
    });
    expect(secret).toEqual(GRANT.secret);
    expect(h.claimed).toEqual([GRANT.orders]);
    expect(await h.nonces.current(consumer.address)).toBe(NONCE_FLOOR + 1n);
    expect((await post(h.app, await startBody(1))).status).toBe(401);
  });

  it('answers a refused check with its status, code and field, and stores nothing', async () => {
    const h = harness({
      authorize: async () =>
        Promise.reject(deny('ORDER_WRONG_CONSUMER', 'the order is someone else’s', 'dataset.transferTxId')),
    });
    const res = await post(h.app, await startBody(1));
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({
      error: 'the order is someone else’s',
      code: 'ORDER_WRONG_CONSUMER',
      field: 'dataset.transferTxId',
    });
    expect(h.created).toEqual([]);
    expect(h.claimed).toEqual([]);
    expect(await h.nonces.current(consumer.address)).toBe(0n);
  });

  it('answers 409 when an order still backs a job, leaving the nonce unused', async () => {
    const h = harness({ claimConflict: true });
    expect((await post(h.app, await startBody(1))).status).toBe(409);
    expect(h.created).toEqual([]);
    expect(await h.nonces.current(consumer.address)).toBe(0n);
  });

  it('releases the claims when the job cannot be created', async () => {
    const h = harness({ createFails: true });
    expect((await post(h.app, await startBody(1))).status).toBe(500);
    expect(h.released.flat().map((c) => c.name)).toEqual(GRANT.orders.map((t) => `claim-${t}`));
  });

  it('withdraws the job and answers 409 when an order was taken over before its claim was attached', async () => {
    const h = harness({ claimLost: true });
    expect((await post(h.app, await startBody(2))).status).toBe(409);
    expect(h.deleted).toEqual([`c2d-job-${h.created[0]!.workflow.jobId}`]);
    expect(h.released.flat().map((c) => c.name)).toEqual(GRANT.orders.map((t) => `claim-${t}`));
  });

  it("holds v1 jobs to the environment's access, as paid jobs: a holder of its list starts, others get 403", async () => {
    const LIST = '0x' + '1a'.repeat(20);
    const environment = { ...ENVIRONMENT, access: { addresses: [], accessLists: [{ '8996': [LIST] }] } };
    const refused = harness({ environment });
    const res = await post(refused.app, await startBody(1));
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: string }).error).toMatch(/not on the access list of environment small/);
    expect(refused.asked).toEqual([]);
    const admitted = harness({ environment, holders: [consumer.address] });
    expect((await post(admitted.app, await startBody(1))).status).toBe(200);
  });

  it('checks the signature and the environment before asking the chain anything', async () => {
    const h = harness();
    const forged = { ...(await startBody(1)), consumerAddress: new Wallet('0x' + '44'.repeat(32)).address };
    expect((await post(h.app, forged)).status).toBe(401);
    const unknownEnv = await post(h.app, await startBody(1, { environment: 'large' }));
    expect(unknownEnv.status).toBe(400);
    expect(await unknownEnv.json()).toMatchObject({ field: 'environment' });
    const repeated = await post(
      h.app,
      await startBody(1, { additionalDatasets: [{ documentId: DID, serviceId: 'compute', transferTxId: TX(4) }] }),
    );
    expect(await repeated.json()).toMatchObject({ field: 'additionalDatasets.0.documentId' });
    expect(h.asked).toEqual([]);
  });
});

describe('initializeCompute', () => {
  const request = {
    datasets: [{ documentId: DID, serviceId: 'compute' }],
    algorithm: { documentId: ALGO_DID, serviceId: 'access' },
    compute: { env: 'small', validUntil: 2_000_000_000 },
    consumerAddress: consumer.address,
  };

  it("answers the quote for the request's environment", async () => {
    const quotes: unknown[] = [];
    const app = createInitializeApp({
      logger: silentLogger,
      environments,
      quote: async (body, environment) => {
        quotes.push([body.datasets, environment.id]);
        return { datasets: [{ validOrder: TX(1) }] };
      },
    });
    const res = await app.request('/api/services/initializeCompute', { method: 'POST', body: JSON.stringify(request) });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ datasets: [{ validOrder: TX(1) }] });
    expect(quotes).toEqual([[request.datasets, 'small']]);
  });

  it('refuses an unknown environment and passes refusals of the checks through with their code', async () => {
    const app = createInitializeApp({
      logger: silentLogger,
      environments,
      quote: async () => Promise.reject(deny('ALGORITHM_NOT_TRUSTED', 'not trusted', 'algorithm.documentId')),
    });
    const unknown = await app.request('/api/services/initializeCompute', {
      method: 'POST',
      body: JSON.stringify({ ...request, compute: { env: 'large', validUntil: 2_000_000_000 } }),
    });
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({ field: 'compute.env' });
    const refused = await app.request('/api/services/initializeCompute', {
      method: 'POST',
      body: JSON.stringify(request),
    });
    expect(refused.status).toBe(403);
    expect(await refused.json()).toEqual({
      error: 'not trusted',
      code: 'ALGORITHM_NOT_TRUSTED',
      field: 'algorithm.documentId',
    });
  });
});
