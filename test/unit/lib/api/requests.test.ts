import { describe, expect, it } from 'vitest';
import {
  deleteRequest,
  initializeComputeRequest,
  logsQuery,
  resultQuery,
  startRequest,
  statusQuery,
  stopRequest,
} from '../../../../lib/api/requests.ts';
import { fromZodError } from '../../../../lib/http/errors.ts';
import type { z } from 'zod';

const ADDRESS = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const DID = 'did:op:' + 'a1'.repeat(32);
const TX = '0x' + 'b2'.repeat(32);
const SIG = '0x' + 'c3'.repeat(65);

function failure(schema: z.ZodType, value: unknown): { field: string | undefined; reason: string | undefined } {
  const result = schema.safeParse(value);
  expect(result.success).toBe(false);
  if (result.success) throw new Error('unreachable');
  const error = fromZodError(result.error);
  expect(error.status).toBe(400);
  return { field: error.field, reason: error.reason };
}

const validStart = {
  dataset: { documentId: DID, serviceId: 'svc-1', transferTxId: TX },
  algorithm: { documentId: 'did:op:' + 'd4'.repeat(32), serviceId: 'algo', transferTxId: TX },
  environment: 'default',
  consumerAddress: ADDRESS,
  nonce: '10000000000007',
  signature: SIG,
};

describe('start request', () => {
  it('accepts what ocean.js computeStart sends and turns the nonce into a bigint', () => {
    const parsed = startRequest.parse({ ...validStart, additionalDatasets: [], output: { publishOutput: true } });
    expect(parsed.nonce).toBe(10000000000007n);
    expect(parsed.dataset.transferTxId).toBe(TX);
    expect('output' in parsed).toBe(false);
  });

  it('accepts a raw algorithm given by meta', () => {
    const meta = {
      rawcode: 'print(1)',
      container: { entrypoint: 'python $ALGO', image: 'python', tag: '3.11', checksum: 'sha256:' + 'e5'.repeat(32) },
    };
    expect(startRequest.safeParse({ ...validStart, algorithm: { meta } }).success).toBe(true);
  });

  it.each([
    [{ ...validStart, dataset: undefined }, 'dataset', 'must be an object'],
    [{ ...validStart, dataset: { ...validStart.dataset, documentId: 'did:op:xyz' } }, 'dataset.documentId', 'did:op:'],
    [
      { ...validStart, dataset: { ...validStart.dataset, documentId: DID.toUpperCase() } },
      'dataset.documentId',
      'lower-case',
    ],
    [
      { ...validStart, dataset: { ...validStart.dataset, transferTxId: '0x12' } },
      'dataset.transferTxId',
      'transaction hash',
    ],
    [{ ...validStart, consumerAddress: '0x1234' }, 'consumerAddress', '20-byte'],
    [{ ...validStart, consumerAddress: ADDRESS.replace('C51812dc', 'c51812DC') }, 'consumerAddress', 'checksum'],
    [{ ...validStart, nonce: '-1' }, 'nonce', 'exactly 14 digits'],
    [{ ...validStart, nonce: '7' }, 'nonce', 'exactly 14 digits'],
    [{ ...validStart, nonce: '1'.repeat(15) }, 'nonce', 'exactly 14 digits'],
    [{ ...validStart, nonce: '0' + '1'.repeat(13) }, 'nonce', 'the first not 0'],
    [{ ...validStart, nonce: 1.5 }, 'nonce', 'decimal'],
    [{ ...validStart, nonce: null }, 'nonce', 'decimal integer'],
    [{ ...validStart, signature: '0xabc' }, 'signature', '65-byte'],
    [{ ...validStart, environment: 'Not_A_Label' }, 'environment', 'DNS label'],
    [{ ...validStart, environment: 'a'.repeat(64) }, 'environment', 'DNS label'],
    [{ ...validStart, algorithm: { serviceId: 'x' } }, 'algorithm.documentId', 'required unless meta'],
    [
      { ...validStart, algorithm: { ...validStart.algorithm, meta: { container: {} } } },
      'algorithm.meta.container.entrypoint',
      '',
    ],
    [{ ...validStart, additionalDatasets: {} }, 'additionalDatasets', 'array'],
    [{ ...validStart, additionalDatasets: Array(17).fill(validStart.dataset) }, 'additionalDatasets', 'at most 16'],
    [{ ...validStart, dataset: { ...validStart.dataset, serviceId: '../etc' } }, 'dataset.serviceId', 'letters'],
    [{ ...validStart, dataset: { ...validStart.dataset, userdata: 'x' } }, 'dataset.userdata', 'JSON object'],
  ])('refuses %# naming the field', (body, field, reason) => {
    const f = failure(startRequest, body);
    expect(f.field).toBe(field);
    expect(f.reason).toContain(reason);
  });

  it('names the body itself when it is not an object', () => {
    expect(failure(startRequest, [1, 2]).field).toBe('body');
    expect(failure(startRequest, 'x').field).toBe('body');
  });
});

describe('stop, delete, status, result and logs requests', () => {
  it('stop reads only what its signature covers, and needs the job id', () => {
    const parsed = stopRequest.parse({
      consumerAddress: ADDRESS,
      signature: SIG,
      nonce: '2',
      agreementId: '',
      jobId: 'f'.repeat(32),
    });
    expect(parsed).toEqual({ consumerAddress: ADDRESS, signature: SIG, jobId: 'f'.repeat(32) });
    expect(failure(stopRequest, { consumerAddress: ADDRESS, signature: SIG, agreementId: TX }).field).toBe('jobId');
  });

  it('stop refuses a job id that could not be a job name', () => {
    expect(
      failure(stopRequest, { consumerAddress: ADDRESS, signature: SIG, nonce: '2', jobId: 'c2d-job-x' }).field,
    ).toBe('jobId');
    expect(
      failure(stopRequest, { consumerAddress: ADDRESS, signature: SIG, nonce: '2', jobId: 'A'.repeat(32) }).field,
    ).toBe('jobId');
  });

  it("delete accepts ocean.js's body without nonce and with an empty documentId", () => {
    const parsed = deleteRequest.parse({
      consumerAddress: ADDRESS,
      signature: SIG,
      jobId: 'a'.repeat(32),
      documentId: '',
    });
    expect(parsed.nonce).toBeUndefined();
    expect(parsed.documentId).toBeUndefined();
  });

  it('status wants signature and nonce together or neither', () => {
    expect(statusQuery.safeParse({ consumerAddress: ADDRESS }).success).toBe(true);
    expect(failure(statusQuery, { consumerAddress: ADDRESS, signature: SIG }).field).toBe('nonce');
    expect(failure(statusQuery, {}).field).toBe('consumerAddress');
  });

  it('result parses the index and refuses negative or non-numeric ones', () => {
    const base = { consumerAddress: ADDRESS, jobId: 'a'.repeat(32), nonce: '10000000000003', signature: SIG };
    expect(resultQuery.parse({ ...base, index: '2' }).index).toBe(2);
    expect(failure(resultQuery, { ...base, index: '-1' }).field).toBe('index');
    expect(failure(resultQuery, { ...base, index: '1e3' }).field).toBe('index');
    expect(failure(resultQuery, { ...base, index: '01' }).field).toBe('index');
    expect(failure(resultQuery, { ...base }).field).toBe('index');
  });

  it('logs knows the three stages and a follow flag', () => {
    const base = { consumerAddress: ADDRESS, jobId: 'a'.repeat(32), nonce: '10000000000003', signature: SIG };
    expect(logsQuery.parse({ ...base, stage: 'algorithm' }).follow).toBe(false);
    expect(logsQuery.parse({ ...base, stage: 'publish', follow: 'true' }).follow).toBe(true);
    expect(failure(logsQuery, { ...base, stage: 'build' }).field).toBe('stage');
    expect(failure(logsQuery, { ...base, stage: 'configure', follow: 'yes' }).field).toBe('follow');
  });
});

describe('initializeCompute request', () => {
  it('accepts datasets and a published algorithm before they are ordered', () => {
    const parsed = initializeComputeRequest.parse({
      datasets: [{ documentId: DID, serviceId: 's' }],
      algorithm: { documentId: DID, serviceId: 'a' },
      compute: { env: 'default', validUntil: 1_900_000_000 },
      consumerAddress: ADDRESS,
    });
    expect(parsed.datasets).toHaveLength(1);
  });

  it('refuses an empty dataset list and a fractional validUntil', () => {
    const base = { algorithm: { documentId: DID, serviceId: 'a' }, consumerAddress: ADDRESS };
    expect(
      failure(initializeComputeRequest, { ...base, datasets: [], compute: { env: 'e', validUntil: 1 } }).field,
    ).toBe('datasets');
    expect(
      failure(initializeComputeRequest, {
        ...base,
        datasets: [{ documentId: DID, serviceId: 's' }],
        compute: { env: 'e', validUntil: 1.5 },
      }).field,
    ).toBe('compute.validUntil');
  });

  it('refuses a dataset named twice', () => {
    const base = {
      algorithm: { documentId: DID, serviceId: 'a' },
      consumerAddress: ADDRESS,
      compute: { env: 'e', validUntil: 1_900_000_000 },
    };
    const twice = [
      { documentId: DID, serviceId: 's' },
      { documentId: DID, serviceId: 't' },
    ];
    expect(failure(initializeComputeRequest, { ...base, datasets: twice })).toEqual({
      field: 'datasets.1.documentId',
      reason: 'repeats a dataset of the job',
    });
    const additional = {
      ...validStart,
      additionalDatasets: [{ ...validStart.dataset, transferTxId: '0x' + 'e5'.repeat(32) }],
    };
    expect(failure(startRequest, additional).field).toBe('additionalDatasets.0.documentId');
  });
});
