import type { CoreV1Api } from '@kubernetes/client-node';
import { Wallet, getAddress } from 'ethers';
import { signRequest } from '@oceanprotocol/lib-v8';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import type { StartAuthorization } from '../../../functions/start/app.ts';
import { registerV2 } from '../../../functions/start/v2.ts';
import type { StartGrant } from '../../../lib/access/authorize-start.ts';
import type { AccessListReader } from '../../../lib/access/environment-access.ts';
import { deny } from '../../../lib/access/errors.ts';
import type { EscrowPayments, LockedPayment, PaidJobTerms } from '../../../lib/api/job-payment.ts';
import type { JobStore } from '../../../lib/api/jobs.ts';
import type { AttachOutcome, HeldClaims, OrderClaims } from '../../../lib/api/order-claims.ts';
import { KubeNonceStore, V2_NONCES } from '../../../lib/auth/nonce-store.ts';
import type { TokenStore } from '../../../lib/auth/token-store.ts';
import { createFunctionApp } from '../../../lib/http/app.ts';
import type { JobConfigMap } from '../../../lib/job/configmap.ts';
import { environmentsToConfigMapData, type Environment } from '../../../lib/job/environments.ts';
import type { Workflow } from '../../../lib/job/workflow.ts';
import { FakeConfigMaps } from '../../support/fake-configmaps.ts';
import { environment, workflow as fixtureWorkflow } from '../../support/job-fixtures.ts';
import { silentLogger } from '../../support/silent-logger.ts';

const consumer = new Wallet('0x' + '44'.repeat(32));
const VIEWER = '0x' + 'cc'.repeat(20);
const DIDS = ['did:op:' + 'a1'.repeat(32), 'did:op:' + 'a2'.repeat(32)];
const ALGO_DID = 'did:op:' + 'b2'.repeat(32);
const TX = (n: number) => '0x' + n.toString(16).padStart(2, '0').repeat(32);
const OCEAN = '0x' + '0c'.repeat(20);

const ENVIRONMENT = environment({
  id: 'small',
  cpu: 2,
  memoryMiB: 2048,
  diskMiB: 2048,
  maxJobDurationSeconds: 3600,
  fees: [{ chainId: 8996, feeToken: OCEAN, pricePerMinute: '1000' }],
  minimums: { cpu: 0.5, memoryMiB: 512, diskMiB: 512 },
  escrowFees: { '8996': [{ feeToken: OCEAN, prices: [{ id: 'cpu', price: 1 }] }] },
  free: {
    cpu: 1,
    memoryMiB: 1024,
    diskMiB: 1024,
    maxJobDurationSeconds: 120,
    maxConcurrentJobs: 1,
    access: { addresses: [] },
  },
});

const GRANT: StartGrant = {
  datasets: DIDS.map((did, i) => ({ did, serviceId: 'compute', transferTxId: TX(i + 1), files: [{ index: 0 }] })),
  algorithm: {
    kind: 'published',
    did: ALGO_DID,
    serviceId: 'access',
    transferTxId: TX(9),
    container: { image: 'node', tag: '24', entrypoint: 'node $ALGO' },
    files: [{ index: 0, checksum: 'a'.repeat(64) }],
  },
  allowNetworkAccess: false,
  maxDurationSeconds: 100,
  orders: [TX(1), TX(2), TX(9)],
  secret: {
    version: 1,
    datasets: {},
    algorithm: { kind: 'published', file: { url: 'https://code.example/a.js', method: 'GET', headers: {} } },
    ddos: {},
  },
};

const NO_LISTS: AccessListReader = {
  chainId: 8996,
  holdsToken: () => Promise.reject(new Error('no access list is configured')),
};

function harness(
  o: {
    escrow?: EscrowPayments;
    unfinishedFree?: number;
    createFails?: boolean;
    grant?: () => StartGrant;
    outputTargets?: boolean;
    environment?: Environment;
    accessLists?: AccessListReader;
  } = {},
) {
  const nonceStore = new FakeConfigMaps();
  const nonces = new KubeNonceStore(nonceStore.asCore(), 'sys', V2_NONCES);
  const created: { workflow: Workflow; extra: Record<string, string> | undefined; output?: string }[] = [];
  const asked: StartAuthorization[] = [];
  const jobs = {
    async listUnfinished(): Promise<JobConfigMap[]> {
      return Array.from({ length: o.unfinishedFree ?? 0 }, () => ({
        workflow: fixtureWorkflow({ billing: 'free' }),
      })) as JobConfigMap[];
    },
    async create(
      workflow: Workflow,
      status: unknown,
      _secret: unknown,
      extra?: Record<string, string>,
      output?: string,
    ) {
      if (o.createFails) throw new Error('kubernetes said no');
      created.push({ workflow, extra, ...(output !== undefined && { output }) });
      return { name: `c2d-job-${workflow.jobId}`, workflow, status, stopRequestedAt: undefined } as JobConfigMap;
    },
    async delete() {},
  } as unknown as JobStore;
  const claims = {
    async claimAll(_c: number, txIds: string[], jobId: string): Promise<HeldClaims> {
      return { claims: txIds.map((t) => ({ name: `claim-${t}`, uid: jobId })), since: 0 };
    },
    assertInTime() {},
    async attach(): Promise<AttachOutcome> {
      return { lost: [], failed: [] };
    },
    async release() {},
  } as unknown as OrderClaims;
  const app: Hono = createFunctionApp({ name: 'start', logger: silentLogger });
  registerV2(app, {
    logger: silentLogger,
    chainId: 8996,
    jobs,
    claims,
    environments: {
      core: {
        readNamespacedConfigMap: async () => ({ data: environmentsToConfigMapData([o.environment ?? ENVIRONMENT]) }),
      } as unknown as CoreV1Api,
      namespace: 'sys',
      name: 'envs',
    },
    auth: { nonces, tokens: {} as TokenStore },
    authorize: async (request) => {
      asked.push(request);
      return o.grant ? o.grant() : GRANT;
    },
    escrow: o.escrow,
    outputTargets: o.outputTargets ?? true,
    accessLists: o.accessLists ?? NO_LISTS,
  });
  return { app, nonces, created, asked };
}

async function body(command: string, nonce: number, over: Record<string, unknown> = {}) {
  return {
    consumerAddress: consumer.address,
    nonce: String(nonce),
    signature: await signRequest(consumer, consumer.address + nonce + command),
    environment: 'small',
    datasets: DIDS.map((d, i) => ({ documentId: d, serviceId: 'compute', transferTxId: TX(i + 1) })),
    algorithm: { documentId: ALGO_DID, serviceId: 'access', transferTxId: TX(9) },
    ...over,
  };
}

const post = (app: Hono, path: string, b: unknown) =>
  app.request(`/v2/api/services/${path}`, { method: 'POST', body: JSON.stringify(b) });

describe('v2 free start', () => {
  it('creates a free job of the requested size and duration, with viewers and metadata, and takes the v2 nonce', async () => {
    const h = harness();
    const res = await post(
      h.app,
      'freeCompute',
      await body('freeStartCompute', 1, {
        resources: [
          { id: 'cpu', amount: 0.5 },
          { id: 'ram', amount: 1 },
        ],
        maxJobDuration: 90,
        metadata: { run: 7 },
        additionalViewers: [consumer.address, VIEWER.toUpperCase().replace('0X', '0x')],
      }),
    );
    expect(res.status).toBe(200);
    const [job] = (await res.json()) as { status: number; isFree: boolean }[];
    expect(job).toMatchObject({ status: 1, isFree: true });
    // The v1 price is not asked of v2's orders (it pays through the escrow, or not at all).
    expect(h.asked[0]).toMatchObject({ environment: { id: 'small', fees: [] }, dataset: { documentId: DIDS[0] } });
    expect(h.asked[0]!.additionalDatasets.map((d) => d.documentId)).toEqual([DIDS[1]]);
    expect(h.created[0]!.workflow).toMatchObject({
      billing: 'free',
      limits: { cpu: 0.5, memoryMiB: 1024, diskMiB: 512, maxDurationSeconds: 90 },
      viewers: [VIEWER],
      metadata: { run: 7 },
      agreementId: TX(1),
    });
    expect(await h.nonces.current(consumer.address)).toBe(1n);
  });

  it("runs no longer than its orders' fees were issued for", async () => {
    const h = harness();
    await post(h.app, 'freeCompute', await body('freeStartCompute', 1));
    expect(h.created[0]!.workflow.limits.maxDurationSeconds).toBe(GRANT.maxDurationSeconds);
  });

  it("refuses beyond the free tier's concurrent jobs, and names v2 fields in refused checks", async () => {
    const full = harness({ unfinishedFree: 1 });
    expect((await post(full.app, 'freeCompute', await body('freeStartCompute', 1))).status).toBe(409);
    expect(full.created).toHaveLength(0);
    const refused = harness({
      grant: () => {
        throw deny('ORDER_WRONG_CONSUMER', 'not yours', 'additionalDatasets.0.transferTxId');
      },
    });
    const res = await post(refused.app, 'freeCompute', await body('freeStartCompute', 1));
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ code: 'ORDER_WRONG_CONSUMER', field: 'datasets.1.transferTxId' });
    expect(await refused.nonces.current(consumer.address)).toBe(0n);
  });
});

describe('v2 start with an output target', () => {
  // An eciesjs ciphertext's shape: 0x04 ephemeral key, nonce, tag, message (start cannot decrypt it).
  const CIPHERTEXT = '04' + 'ab'.repeat(64) + '11'.repeat(40);

  it('keeps the ciphertext for the output Secret (lower-case, without 0x) and marks the workflow', async () => {
    const h = harness();
    const res = await post(
      h.app,
      'freeCompute',
      await body('freeStartCompute', 1, { output: '0x' + CIPHERTEXT.toUpperCase() }),
    );
    expect(res.status).toBe(200);
    expect(h.created[0]!.output).toBe(CIPHERTEXT);
    expect(h.created[0]!.workflow.outputTarget).toBe(true);
    expect(JSON.stringify(h.created[0]!.workflow)).not.toContain(CIPHERTEXT.slice(0, 40));
  });

  it('creates a job without one as before', async () => {
    const h = harness();
    expect((await post(h.app, 'freeCompute', await body('freeStartCompute', 1))).status).toBe(200);
    expect(h.created[0]!.output).toBeUndefined();
    expect(h.created[0]!.workflow.outputTarget).toBeUndefined();
  });

  it.each([
    ['not hex', 'zz' + CIPHERTEXT],
    ['odd length', CIPHERTEXT + 'a'],
    ['too short', '04' + 'ab'.repeat(40)],
    ['a compressed ephemeral key', '02' + CIPHERTEXT.slice(2)],
    ['over 8 KiB', '04' + 'ab'.repeat(8192)],
    ['not a string', { remoteStorage: { type: 's3' } }],
  ])('refuses an output that is %s, naming the field, before spending the nonce', async (_what, output) => {
    const h = harness();
    const res = await post(h.app, 'freeCompute', await body('freeStartCompute', 1, { output }));
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ field: 'output' });
    expect(h.created).toHaveLength(0);
    expect(await h.nonces.current(consumer.address)).toBe(0n);
  });

  it('refuses any output when the provider has no output key', async () => {
    const h = harness({ outputTargets: false });
    const res = await post(h.app, 'freeCompute', await body('freeStartCompute', 1, { output: CIPHERTEXT }));
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ field: 'output', error: expect.stringContaining('no output key') });
    expect(h.created).toHaveLength(0);
  });
});

describe('v2 paid start', () => {
  const paid = (nonce: number) =>
    body('startCompute', nonce, {
      maxJobDuration: 600,
      payment: { chainId: 8996, token: OCEAN, resources: [{ id: 'cpu', amount: 2 }] },
    });

  it('is refused while no escrow is configured', async () => {
    const res = await post(harness().app, 'compute', await paid(1));
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      field: 'payment',
      error: expect.stringMatching(/needs escrow, not configured/),
    });
  });

  it('locks the quoted price before the job exists, stores the lock with it, and releases it when creation fails', async () => {
    const calls: string[] = [];
    let terms: PaidJobTerms | undefined;
    const locked: LockedPayment = { data: { 'payment.json': '{}' } };
    const escrow: EscrowPayments = {
      async quote(t) {
        terms = t;
        calls.push('quote');
        return {
          payment: {
            escrowAddress: OCEAN,
            chainId: 8996,
            payee: t.payee,
            token: t.token,
            amount: '1',
            minLockSeconds: 1,
          },
          basis: {},
        };
      },
      async lockJobPayment(job) {
        calls.push(`lock ${job.owner}`);
        return locked;
      },
      async releaseJobPayment(l) {
        calls.push(l === locked ? 'release' : 'release?');
      },
    };
    const h = harness({ escrow });
    expect((await post(h.app, 'compute', await paid(1))).status).toBe(200);
    expect(terms).toMatchObject({
      chainId: 8996,
      maxJobDurationSeconds: 600,
      payee: ENVIRONMENT.consumerAddress,
      resources: [
        { id: 'cpu', amount: 2 },
        { id: 'ram', amount: 0.5 },
        { id: 'disk', amount: 0.5 },
      ],
    });
    expect(calls).toEqual(['quote', `lock ${consumer.address.toLowerCase()}`]);
    expect(h.created[0]).toMatchObject({ workflow: { billing: 'escrow' }, extra: locked.data });

    const failing = harness({ escrow, createFails: true });
    calls.length = 0;
    expect((await post(failing.app, 'compute', await paid(1))).status).toBe(500);
    expect(calls).toEqual(['quote', `lock ${consumer.address.toLowerCase()}`, 'release']);
  });
});

describe('access lists (AccessList contracts on the chain)', () => {
  const LIST = getAddress('0x' + '1a'.repeat(20));
  const OTHER_LIST = getAddress('0x' + '2b'.repeat(20));
  const listed = (accessLists: Record<string, string[]>[]): Environment => ({
    ...ENVIRONMENT,
    free: { ...ENVIRONMENT.free!, access: { addresses: [], accessLists } },
  });
  /** Holders per list; a list in `down` fails as an RPC would. */
  function chain(holders: Record<string, string[]>, down: string[] = []) {
    const asked: string[] = [];
    const reader: AccessListReader = {
      chainId: 8996,
      async holdsToken(contract, address) {
        asked.push(contract);
        if (down.includes(contract)) throw new Error('chain RPC timed out after 10000 ms');
        return (holders[contract] ?? []).includes(address);
      },
    };
    return { reader, asked };
  }

  it("admits to the free tier a holder of one of its lists on this chain, asking each list's contract", async () => {
    const c = chain({ [OTHER_LIST]: [consumer.address] });
    const h = harness({ environment: listed([{ '8996': [LIST] }, { '8996': [OTHER_LIST] }]), accessLists: c.reader });
    expect((await post(h.app, 'freeCompute', await body('freeStartCompute', 1))).status).toBe(200);
    expect(c.asked.sort()).toEqual([LIST, OTHER_LIST].sort());
    expect(h.created).toHaveLength(1);
  });

  it('refuses a non-holder with 403 naming the reason, creating nothing and keeping the nonce', async () => {
    const h = harness({ environment: listed([{ '8996': [LIST] }]), accessLists: chain({}).reader });
    const res = await post(h.app, 'freeCompute', await body('freeStartCompute', 1));
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: string }).error).toBe(
      `${consumer.address} is not on the access list of the free tier of environment small: not among its addresses, ` +
        'and it holds no token of its 1 access list on chain 8996',
    );
    expect(h.created).toHaveLength(0);
    expect(await h.nonces.current(consumer.address)).toBe(0n);
  });

  it('answers 503 (retryable), not an admission, when a list cannot be read and no other admits', async () => {
    const c = chain({}, [LIST]);
    const h = harness({ environment: listed([{ '8996': [LIST, OTHER_LIST] }]), accessLists: c.reader });
    const res = await post(h.app, 'freeCompute', await body('freeStartCompute', 1));
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: string }).error).toMatch(/could not read the access lists .* try again/);
    expect(h.created).toHaveLength(0);
  });

  it('refuses everyone but its addresses when its lists are all on another chain, without asking the chain', async () => {
    const c = chain({ [LIST]: [consumer.address] });
    const h = harness({ environment: listed([{ '1': [LIST] }]), accessLists: c.reader });
    const res = await post(h.app, 'freeCompute', await body('freeStartCompute', 1));
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: string }).error).toMatch(/no access list of it is on chain 8996/);
    expect(c.asked).toEqual([]);
  });

  it("holds paid jobs to the environment's own access, before any escrow call; the free tier's list does not apply", async () => {
    const calls: string[] = [];
    const escrow = {
      async quote() {
        calls.push('quote');
        throw new Error('not reached');
      },
    } as unknown as EscrowPayments;
    const environment: Environment = {
      ...ENVIRONMENT,
      access: { addresses: ['0x' + 'dd'.repeat(20)], accessLists: [{ '8996': [LIST] }] },
    };
    const h = harness({ environment, escrow, accessLists: chain({}).reader });
    const res = await post(
      h.app,
      'compute',
      await body('startCompute', 1, { maxJobDuration: 600, payment: { chainId: 8996, token: OCEAN } }),
    );
    const answer = (await res.json()) as { error: string };
    expect([res.status, answer.error]).toEqual([403, expect.stringMatching(/access list of environment small:/)]);
    expect(calls).toEqual([]);
    // The free tier has its own (open) access: the environment's does not close it.
    const free = harness({ environment, accessLists: chain({}).reader });
    expect((await post(free.app, 'freeCompute', await body('freeStartCompute', 1))).status).toBe(200);
  });
});
