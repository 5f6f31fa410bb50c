import { describe, expect, it } from 'vitest';
import { allInOrder, inField } from '../../../../lib/access/check-job.ts';
import {
  buildStartGrant,
  jobDuration,
  workflowContainer,
  type GrantParts,
} from '../../../../lib/access/authorize-start.ts';
import { AccessDenied, deny } from '../../../../lib/access/errors.ts';
import type { OrderProof } from '../../../../lib/access/order.ts';
import { initializeField } from '../../../../lib/access/quote-initialize.ts';
import { parsePrivateHostAllowList } from '../../../../lib/http/address-policy.ts';
import { newJobId } from '../../../../lib/job/names.ts';
import { parseJobSecretData, parseWorkflow, secretMismatches, WORKFLOW_VERSION } from '../../../../lib/job/workflow.ts';
import { algorithmDdo, datasetDdo, IMAGE_DIGEST } from './fixtures.ts';

const TX = (n: number) => '0x' + n.toString(16).padStart(2, '0').repeat(32);
const CONTAINER = { entrypoint: 'python $ALGO', image: 'python', tag: '3.12', checksum: IMAGE_DIGEST };
const dataset = datasetDdo();
const algorithm = algorithmDdo();

function proof(txId: string, validUntil: number, orderTxId = txId): OrderProof {
  return {
    txId,
    orderTxId,
    reused: orderTxId !== txId,
    datatoken: dataset.services[1]!.datatokenAddress,
    consumer: '0x' + '33'.repeat(20),
    payer: '0x' + '33'.repeat(20),
    amount: 10n ** 18n,
    serviceIndex: 1,
    orderTimestamp: 1_000,
    providerFee: {
      providerFeeAddress: '0x' + '11'.repeat(20),
      providerFeeToken: '0x' + '55'.repeat(20),
      providerFeeAmount: 0n,
      providerData: {
        environment: 'default',
        timestamp: 1_000,
        dt: dataset.services[1]!.datatokenAddress,
        id: 'compute-1',
      },
      validUntil,
    },
  };
}

const ALGO_DIGEST = 'c'.repeat(64);
const file = (url: string) => ({ url, method: 'GET' as const, headers: { Authorization: 'Bearer s3cr3t' } });

function parts(over: Partial<GrantParts> = {}): GrantParts {
  return {
    datasets: [
      {
        did: dataset.id,
        serviceId: 'compute-1',
        transferTxId: TX(1),
        files: [file('https://data.example/a.csv'), file('https://data.example/b.csv')],
        document: JSON.stringify(dataset),
      },
    ],
    algorithm: {
      kind: 'published',
      did: algorithm.id,
      serviceId: 'algo-access',
      transferTxId: TX(2),
      container: CONTAINER,
      files: [file('https://code.example/mean.py')],
      digests: [ALGO_DIGEST],
      document: JSON.stringify(algorithm),
    },
    allowNetworkAccess: false,
    maxDurationSeconds: 600,
    proofs: [proof(TX(1), 5_000), proof(TX(3), 5_000, TX(2))],
    fileRules: {},
    ...over,
  };
}

/** The grant as start turns it into a job: the workflow must parse and the Secret must fit it. */
function asJob(grant: ReturnType<typeof buildStartGrant>) {
  const workflow = parseWorkflow({
    version: WORKFLOW_VERSION,
    jobId: newJobId(),
    owner: '0x' + '33'.repeat(20),
    environment: 'default',
    agreementId: TX(1),
    dateCreated: new Date().toISOString(),
    datasets: grant.datasets,
    algorithm: grant.algorithm,
    allowNetworkAccess: grant.allowNetworkAccess,
    limits: { maxDurationSeconds: grant.maxDurationSeconds, cpu: 1, memoryMiB: 256, diskMiB: 256 },
  });
  const secret = parseJobSecretData(grant.secret);
  return { workflow, secret, mismatches: secretMismatches(workflow, secret) };
}

describe('the grant of start', () => {
  it('puts file positions into the workflow and the file locations only into the Secret', () => {
    const grant = buildStartGrant(parts());
    const { workflow, secret, mismatches } = asJob(grant);
    expect(mismatches).toEqual([]);
    expect(workflow.datasets).toEqual([
      { did: dataset.id, serviceId: 'compute-1', transferTxId: TX(1), files: [{ index: 0 }, { index: 1 }] },
    ]);
    expect(workflow.algorithm).toEqual({
      kind: 'published',
      did: algorithm.id,
      serviceId: 'algo-access',
      transferTxId: TX(2),
      container: { image: 'python', tag: '3.12', entrypoint: 'python $ALGO', checksum: IMAGE_DIGEST },
      // The digest the provider verified: the configure pod runs nothing else.
      files: [{ index: 0, checksum: ALGO_DIGEST }],
    });
    expect(JSON.stringify(workflow)).not.toMatch(/example|s3cr3t/);
    expect(secret.datasets[dataset.id]?.map((f) => f.url)).toEqual([
      'https://data.example/a.csv',
      'https://data.example/b.csv',
    ]);
    expect(secret.algorithm).toEqual({ kind: 'published', file: file('https://code.example/mean.py') });
    expect(Object.keys(secret.ddos).sort()).toEqual([algorithm.id, dataset.id].sort());
  });

  it('claims every order the job stands on, a reused order and the order it reuses alike, once each', () => {
    expect(buildStartGrant(parts()).orders.sort()).toEqual([TX(1), TX(2), TX(3)].sort());
  });

  it('takes a raw algorithm as code or as a URL held to the file rules', () => {
    const code = buildStartGrant(parts({ algorithm: { kind: 'raw', container: CONTAINER, rawcode: 'print(1)' } }));
    expect(code.algorithm).toMatchObject({ kind: 'raw', source: 'rawcode' });
    expect(code.secret.algorithm).toEqual({ kind: 'rawcode', rawcode: 'print(1)' });
    expect(asJob(code).mismatches).toEqual([]);

    const local = { kind: 'raw' as const, container: CONTAINER, url: 'http://127.0.0.1:9000/algo.py' };
    expect(() => buildStartGrant(parts({ algorithm: local }))).toThrow(
      expect.objectContaining({ code: 'FILES_UNSUPPORTED', field: 'algorithm.meta.url' }),
    );
    const allowed = buildStartGrant(
      parts({ algorithm: local, fileRules: { privateHosts: parsePrivateHostAllowList('127.0.0.1:9000') } }),
    );
    expect(allowed.secret.algorithm).toEqual({ kind: 'url', file: { url: local.url, method: 'GET', headers: {} } });
    expect(asJob(allowed).mismatches).toEqual([]);
  });

  it('refuses a published algorithm of several files, and a container the pod could not run', () => {
    const published = parts().algorithm as Extract<GrantParts['algorithm'], { kind: 'published' }>;
    const twoFiles = { ...published, files: [file('https://code.example/a.py'), file('https://code.example/b.py')] };
    expect(() => buildStartGrant(parts({ algorithm: twoFiles }))).toThrow(
      expect.objectContaining({ code: 'FILES_UNSUPPORTED' }),
    );
    expect(() => workflowContainer({ ...CONTAINER, image: 'python:3.12' })).toThrow(
      expect.objectContaining({ code: 'ALGORITHM_CONTAINER_INVALID', field: 'algorithm' }),
    );
    expect(() => workflowContainer({ ...CONTAINER, tag: 'a b' })).toThrow(AccessDenied);
    expect(workflowContainer({ ...CONTAINER, image: 'registry.example:5000/team/python' })).toMatchObject({
      image: 'registry.example:5000/team/python',
    });
  });
});

describe('how long the job may run', () => {
  it('until the earliest provider fee runs out, at most the environment maximum', () => {
    expect(jobDuration([proof(TX(1), 1_900), proof(TX(2), 1_300)], 600, 1_000)).toBe(300);
    expect(jobDuration([proof(TX(1), 9_000)], 600, 1_000)).toBe(600);
    // validUntil 0 is a fee without expiry.
    expect(jobDuration([proof(TX(1), 0), proof(TX(2), 1_120)], 600, 1_000)).toBe(120);
    expect(jobDuration([proof(TX(1), 0)], 600, 1_000)).toBe(600);
  });
});

describe('refusal fields', () => {
  it('puts the asset in front of a bare field, and names the asset when there is none', async () => {
    await expect(
      inField('dataset', Promise.reject(deny('DDO_NOT_FOUND', 'no NFT', 'documentId'))),
    ).rejects.toMatchObject({
      code: 'DDO_NOT_FOUND',
      field: 'dataset.documentId',
    });
    await expect(
      inField('additionalDatasets.0', Promise.reject(deny('DDO_STATE_REVOKED', 'revoked'))),
    ).rejects.toMatchObject({
      field: 'additionalDatasets.0.documentId',
    });
    await expect(
      inField('algorithm', Promise.reject(deny('ALGORITHM_NOT_TRUSTED', 'x', 'algorithm.documentId'))),
    ).rejects.toMatchObject({
      field: 'algorithm.documentId',
    });
    const other = new Error('rpc');
    await expect(inField('dataset', Promise.reject(other))).rejects.toBe(other);
  });

  it("names initializeCompute's datasets as its request does", () => {
    expect(initializeField('dataset.serviceId')).toBe('datasets.0.serviceId');
    expect(initializeField('dataset')).toBe('datasets.0');
    expect(initializeField('additionalDatasets.2.transferTxId')).toBe('datasets.3.transferTxId');
    expect(initializeField('algorithm.meta')).toBe('algorithm.meta');
    expect(initializeField(undefined)).toBeUndefined();
  });

  it('refuses with the first failure in request order, whichever fails first in time', async () => {
    const slow = new Promise<number>((_, reject) => setTimeout(() => reject(new Error('first')), 20));
    const fast = Promise.reject(new Error('second'));
    await expect(allInOrder([slow, fast])).rejects.toThrow('first');
    await expect(allInOrder([Promise.resolve(1), Promise.resolve(2)])).resolves.toEqual([1, 2]);
  });
});
