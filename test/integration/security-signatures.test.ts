import { CoreV1Api } from '@kubernetes/client-node';
import { Wallet, getBytes, keccak256, toUtf8Bytes } from 'ethers';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../devcluster/local-stack.ts';
import { ProviderInstance, ethers5 } from '../../devcluster/ocean-client.ts';
import { MAX_NONCE_STEP, NONCE_CEILING } from '../../lib/auth/nonce-policy.ts';
import { deleteText, logsText, resultText, startText, statusText, stopText } from '../../lib/auth/signed-texts.ts';
import { statusPatch } from '../../lib/job/configmap.ts';
import { StatusCode, initialStatus, type JobStatus } from '../../lib/job/status.ts';
import { loadKubeConfig } from '../../lib/kube/client.ts';
import { PatchStrategy, setHeaderOptions } from '../../lib/kube/api.ts';
import { createJob, readJob } from '../support/engine-jobs.ts';
import { buildJob, nodeAlgorithm, randomDid } from '../support/job-fixtures.ts';
import {
  ATTACK_LAYOUTS,
  ATTACK_RULES,
  SIGNED_ENDPOINTS,
  readingsOf,
  type Reading,
  type SignedEndpoint,
} from '../support/signed-text-splits.ts';

/**
 * Signatures are bound to their endpoint, and a text that covers no nonce cannot move one (issue: "what an attacker
 * broke", items 1, 2 and 9). The functions run behind the local gateway under their own ServiceAccounts; the jobs
 * they act on are created in the real cluster as `start` creates them (no engine runs, so an unfinished job stays
 * unfinished and a finished one keeps its status).
 */

const env = inject('platform');
const consumer = new Wallet(env.keys.consumer);
const other = new Wallet(env.keys.other);
let stack: LocalStack;
let url: string;
let core: CoreV1Api;

function sign(wallet: Wallet, text: string): Promise<string> {
  return wallet.signMessage(getBytes(keccak256(toUtf8Bytes(text))));
}

async function currentNonce(base: string, address: string): Promise<bigint> {
  const res = await fetch(`${base}/api/services/nonce?userAddress=${address}`);
  expect(res.status).toBe(200);
  return BigInt(((await res.json()) as { nonce: number }).nonce);
}

interface SeededJob {
  jobId: string;
  did: string;
}

/** A job of `owner` as `start` creates it; `finished` gives it the status the engine writes when a job succeeded. */
async function seedJob(owner: string, finished: boolean): Promise<SeededJob> {
  const built = buildJob({
    environment: 'local-default',
    owner: owner.toLowerCase(),
    datasets: [{ files: [{ url: 'http://127.0.0.1:9/never-fetched' }] }],
    algorithm: nodeAlgorithm('console.log(1)'),
  });
  const job = await createJob(core, env.namespaces.jobs, built);
  if (finished) {
    const at = new Date().toISOString();
    const status: JobStatus = {
      ...initialStatus(new Date()),
      code: StatusCode.JobFinished,
      text: 'Job finished',
      dateFinished: at,
      termination: { reason: 'finished' },
    };
    await core.patchNamespacedConfigMap(
      { name: job.name, namespace: env.namespaces.jobs, body: statusPatch(status, undefined) },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }
  return { jobId: built.workflow.jobId, did: built.workflow.datasets[0]!.did };
}

interface Sent {
  method: string;
  path: string;
  body?: unknown;
  query?: Record<string, string>;
}

/** The HTTP request of `endpoint` that carries `fields`, `address` and `signature`, as a client would send it. */
function requestOf(
  endpoint: SignedEndpoint,
  fields: Reading,
  address: string,
  signature: string,
  fallback: SeededJob,
): Sent {
  const jobId = fields.jobId ?? fallback.jobId;
  switch (endpoint) {
    case 'start':
      return {
        method: 'POST',
        path: '/api/services/compute',
        body: {
          consumerAddress: address,
          signature,
          nonce: fields.nonce,
          environment: 'local-default',
          dataset: {
            documentId: fields.documentId ?? fallback.did,
            serviceId: 'compute',
            transferTxId: `0x${'1'.repeat(64)}`,
          },
          algorithm: { documentId: randomDid(), serviceId: 'access', transferTxId: `0x${'2'.repeat(64)}` },
        },
      };
    case 'stop':
      return {
        method: 'PUT',
        path: '/api/services/compute',
        body: { consumerAddress: address, signature, jobId, ...(fields.nonce && { nonce: fields.nonce }) },
      };
    case 'delete':
      return {
        method: 'DELETE',
        path: '/api/services/compute',
        body: {
          consumerAddress: address,
          signature,
          jobId,
          ...(fields.documentId && { documentId: fields.documentId }),
          ...(fields.nonce && { nonce: fields.nonce }),
        },
      };
    case 'result':
      return {
        method: 'GET',
        path: '/api/services/computeResult',
        query: { consumerAddress: address, jobId, index: fields.index ?? '0', nonce: fields.nonce ?? '', signature },
      };
    case 'logs':
      return {
        method: 'GET',
        path: '/api/services/computeLogs',
        query: {
          consumerAddress: address,
          jobId,
          stage: fields.stage ?? 'algorithm',
          nonce: fields.nonce ?? '',
          signature,
        },
      };
    case 'status':
      return {
        method: 'GET',
        path: '/api/services/compute',
        query: {
          consumerAddress: address,
          ...(fields.jobId && { jobId: fields.jobId }),
          nonce: fields.nonce ?? '',
          signature,
        },
      };
  }
}

async function send(base: string, r: Sent): Promise<Response> {
  const query = r.query ? `?${new URLSearchParams(r.query)}` : '';
  return fetch(`${base}${r.path}${query}`, {
    method: r.method,
    ...(r.body !== undefined && { headers: { 'content-type': 'application/json' }, body: JSON.stringify(r.body) }),
  });
}

/** The text a genuine request of `endpoint` with `fields` is signed over. */
function textOf(endpoint: SignedEndpoint, address: string, f: Reading): string {
  const nonce = BigInt(f.nonce ?? '0');
  switch (endpoint) {
    case 'start':
      return startText({ address, documentId: f.documentId!, nonce });
    case 'stop':
      return stopText({ address, jobId: f.jobId! });
    case 'delete':
      return deleteText({ address, jobId: f.jobId!, documentId: f.documentId, nonce });
    case 'result':
      return resultText({ address, jobId: f.jobId!, index: Number(f.index), nonce });
    case 'logs':
      return logsText({ address, jobId: f.jobId!, stage: f.stage!, nonce });
    case 'status':
      return statusText({ address, jobId: f.jobId, nonce });
  }
}

beforeAll(async () => {
  stack = await startLocalStack(env, { engine: false });
  url = stack.providerUrl;
  core = loadKubeConfig(env.kubeconfig).makeApiClient(CoreV1Api);
});

afterAll(async () => {
  await stack?.stop();
});

describe('a signature made for one endpoint', () => {
  it("is refused by every other endpoint, however its text is cut into that endpoint's fields", async () => {
    const finished = await seedJob(consumer.address, true);
    const running = await seedJob(consumer.address, false);
    const nonceBefore = await currentNonce(url, consumer.address);
    // Never sent: the attacker has the signed request before the provider does, so its nonce is still fresh.
    const n = String(nonceBefore + 1n);
    const genuine: Record<SignedEndpoint, Reading[]> = {
      start: [{ documentId: finished.did, nonce: n }],
      stop: [{ jobId: running.jobId }, { jobId: finished.jobId }],
      delete: [
        { jobId: finished.jobId, documentId: finished.did, nonce: n },
        { jobId: finished.jobId, nonce: n },
      ],
      result: [
        { jobId: finished.jobId, index: '1', nonce: n },
        { jobId: finished.jobId, index: '12', nonce: n },
      ],
      logs: [{ jobId: finished.jobId, stage: 'algorithm', nonce: n }],
      status: [{ jobId: finished.jobId, nonce: n }, { nonce: n }],
    };

    const accepted: string[] = [];
    let attempts = 0;
    for (const source of SIGNED_ENDPOINTS) {
      for (const fields of genuine[source]) {
        const text = textOf(source, consumer.address, fields);
        const signature = await sign(consumer, text);
        for (const target of SIGNED_ENDPOINTS.filter((t) => t !== source)) {
          // Every reading of the text as the target's request, plus the plain replay of the source's own fields.
          const readings = [
            ...readingsOf(text.slice(consumer.address.length), target, ATTACK_RULES, ATTACK_LAYOUTS),
            fields,
          ];
          for (const reading of readings) {
            const forged = requestOf(target, reading, consumer.address, signature, finished);
            const res = await send(url, forged);
            attempts++;
            if (res.status < 400 || res.status >= 500)
              accepted.push(
                `${source} ${JSON.stringify(fields)} as ${target} ${JSON.stringify(reading)}: ${res.status}`,
              );
          }
        }
      }
    }
    expect(accepted).toEqual([]);
    expect(attempts).toBeGreaterThanOrEqual(SIGNED_ENDPOINTS.length * (SIGNED_ENDPOINTS.length - 1));
    // Nothing changed: both jobs are there, the unfinished one is not marked, and no nonce was taken.
    expect((await readJob(core, env.namespaces.jobs, finished.jobId)).status.code).toBe(70);
    expect((await readJob(core, env.namespaces.jobs, running.jobId)).stopRequestedAt).toBeUndefined();
    expect(await currentNonce(url, consumer.address)).toBe(nonceBefore);
  });
});

describe('the replay that deleted a job', () => {
  it('a result URL for index 1 is not a delete whose nonce is "1" + its nonce', async () => {
    const finished = await seedJob(consumer.address, true);
    const nonce = (await currentNonce(url, consumer.address)) + 1n;
    const signature = await sign(
      consumer,
      resultText({ address: consumer.address, jobId: finished.jobId, index: 1, nonce }),
    );
    const res = await send(url, {
      method: 'DELETE',
      path: '/api/services/compute',
      body: { consumerAddress: consumer.address, jobId: finished.jobId, nonce: `1${nonce}`, signature },
    });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect((await readJob(core, env.namespaces.jobs, finished.jobId)).status.code).toBe(70);
  });
});

describe('stop, whose signature covers no nonce', () => {
  it('never moves the nonce, and a replay changes nothing', async () => {
    const job = await seedJob(consumer.address, false);
    const before = await currentNonce(url, consumer.address);
    const signature = await sign(consumer, stopText({ address: consumer.address, jobId: job.jobId }));
    const stop = { consumerAddress: consumer.address, jobId: job.jobId, signature, nonce: '999999999999999' };

    const first = await send(url, { method: 'PUT', path: '/api/services/compute', body: stop });
    expect(first.status).toBe(200);
    const marked = await readJob(core, env.namespaces.jobs, job.jobId);
    expect(marked.stopRequestedAt).toBeDefined();
    expect(await currentNonce(url, consumer.address)).toBe(before);

    for (const nonce of ['99999999999999', String(before + 1n), undefined]) {
      const replay = await send(url, { method: 'PUT', path: '/api/services/compute', body: { ...stop, nonce } });
      expect(replay.status).toBe(200);
      expect(((await replay.json()) as { jobId: string }[])[0]!.jobId).toBe(job.jobId);
    }
    const after = await readJob(core, env.namespaces.jobs, job.jobId);
    expect(after.stopRequestedAt).toBe(marked.stopRequestedAt);
    expect(after.resourceVersion).toBe(marked.resourceVersion);
    expect(await currentNonce(url, consumer.address)).toBe(before);

    // ocean.js's own stop still works afterwards: the account is not locked out.
    const chain = new ethers5.providers.JsonRpcProvider(env.rpcUrl);
    const second = await seedJob(consumer.address, false);
    const stopped = await ProviderInstance.computeStop(
      second.did,
      consumer.address,
      second.jobId,
      url,
      new ethers5.Wallet(env.keys.consumer, chain),
    );
    expect(JSON.stringify(stopped)).toContain(second.jobId);
  });

  it('needs the job id: a signature over the address alone would stop every later job when replayed', async () => {
    const signature = await sign(consumer, consumer.address);
    const res = await send(url, {
      method: 'PUT',
      path: '/api/services/compute',
      body: { consumerAddress: consumer.address, signature, nonce: '1' },
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ field: 'jobId' });
  });
});

describe('no request can lock its owner out', () => {
  it('refuses a nonce at the top of the range or far ahead, and takes one within the step', async () => {
    const finished = await seedJob(consumer.address, true);
    const before = await currentNonce(url, consumer.address);
    const logsRequest = async (nonce: bigint): Promise<Response> => {
      const fields = { jobId: finished.jobId, stage: 'algorithm', nonce: String(nonce) };
      const signature = await sign(consumer, textOf('logs', consumer.address, fields));
      return send(url, requestOf('logs', fields, consumer.address, signature, finished));
    };
    for (const nonce of [NONCE_CEILING, 999_999_999_999_999n, before + MAX_NONCE_STEP + 1n]) {
      const res = await logsRequest(nonce);
      expect([400, 401]).toContain(res.status);
    }
    expect(await currentNonce(url, consumer.address)).toBe(before);
    // The largest step is taken (the stage has no log yet: 404 after the nonce is accepted)…
    expect((await logsRequest(before + MAX_NONCE_STEP)).status).toBe(404);
    expect(await currentNonce(url, consumer.address)).toBe(before + MAX_NONCE_STEP);
    // …and ocean.js, which signs the reported nonce + 1, goes on working.
    const chain = new ethers5.providers.JsonRpcProvider(env.rpcUrl);
    const deleted = await ProviderInstance.computeDelete(
      finished.did,
      new ethers5.Wallet(env.keys.consumer, chain),
      finished.jobId,
      url,
    );
    expect(JSON.stringify(deleted)).toContain(finished.jobId);
    expect(await currentNonce(url, consumer.address)).toBe(before + MAX_NONCE_STEP + 1n);
  });
});

describe('status', () => {
  const statusOf = (base: string, query: Record<string, string>): Promise<Response> =>
    send(base, { method: 'GET', path: '/api/services/compute', query });

  async function signedStatus(
    signer: Wallet,
    base: string,
    address: string,
    jobId?: string,
  ): Promise<Record<string, string>> {
    const nonce = String((await currentNonce(base, signer.address)) + 1n);
    const signature = await sign(signer, statusText({ address, jobId, nonce: BigInt(nonce) }));
    return { consumerAddress: address, ...(jobId && { jobId }), nonce, signature };
  }

  it('answers unsigned requests by default, as ocean.js 3.x sends them, and holds a signed one to its signature', async () => {
    const job = await seedJob(consumer.address, true);
    const unsigned = await ProviderInstance.computeStatus(url, consumer.address, job.jobId);
    expect(JSON.stringify(unsigned)).toContain(job.jobId);

    const signed = await signedStatus(consumer, url, consumer.address, job.jobId);
    expect((await statusOf(url, signed)).status).toBe(200);
    expect((await statusOf(url, signed)).status).toBe(401);
    // Another address cannot sign for the consumer.
    expect(
      (
        await statusOf(url, {
          ...(await signedStatus(other, url, consumer.address)),
          consumerAddress: consumer.address,
        })
      ).status,
    ).toBe(401);
  });

  describe('with STATUS_REQUIRES_SIGNATURE=true', () => {
    let strict: LocalStack;

    beforeAll(async () => {
      strict = await startLocalStack(env, { engine: false, functionSettings: { STATUS_REQUIRES_SIGNATURE: 'true' } });
    });

    afterAll(async () => {
      await strict?.stop();
    });

    it('refuses unsigned requests naming the field, and lists jobs only to their signed owner', async () => {
      const base = strict.providerUrl;
      const job = await seedJob(consumer.address, true);
      const unsigned = await statusOf(base, { consumerAddress: consumer.address });
      expect(unsigned.status).toBe(401);
      expect(await unsigned.json()).toMatchObject({ field: 'signature' });
      await expect(ProviderInstance.computeStatus(base, consumer.address, job.jobId)).rejects.toThrow(
        /only signed status requests/,
      );

      const byOther = await signedStatus(other, base, consumer.address);
      expect((await statusOf(base, byOther)).status).toBe(401);

      const signed = await signedStatus(consumer, base, consumer.address);
      const res = await statusOf(base, signed);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { jobId: string }[]).map((j) => j.jobId)).toContain(job.jobId);
      expect((await statusOf(base, signed)).status).toBe(401);
    });
  });
});
