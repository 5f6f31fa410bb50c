import { describe, expect, it } from 'vitest';
import { freeStartRequest, paidStartRequest, v2InitializeRequest } from '../../../../lib/api/requests-v2.ts';

const DID = 'did:op:' + '1'.repeat(64);
const TX = '0x' + 'ab'.repeat(32);
const ADDRESS = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';

/** What ocean.js 8.6.2's freeComputeStart posts (dataset is its copy of datasets[0], kept for old providers). */
const free = {
  consumerAddress: ADDRESS,
  nonce: '3',
  signature: '0x' + '11'.repeat(65),
  environment: 'default',
  resources: [{ id: 'cpu', amount: 1 }],
  dataset: { documentId: DID, serviceId: 'compute', transferTxId: TX },
  datasets: [{ documentId: DID, serviceId: 'compute', transferTxId: TX }],
  algorithm: { documentId: 'did:op:' + '2'.repeat(64), serviceId: 'access', transferTxId: TX },
  metadata: { purpose: 'x', n: 1, ok: true },
  additionalViewers: [ADDRESS],
};

function firstIssue(result: { success: boolean; error?: { issues: { path: PropertyKey[]; message: string }[] } }) {
  const issue = result.error?.issues[0];
  return issue && `${issue.path.join('.')}: ${issue.message}`;
}

describe('v2 request schemas', () => {
  it("take what ocean.js 8's freeComputeStart and computeStart send", () => {
    expect(freeStartRequest.parse(free).nonce).toBe(3n);
    const paid = {
      ...free,
      maxJobDuration: 60,
      chainId: 8996,
      payment: { chainId: 8996, token: ADDRESS, maxJobDuration: 60, resources: free.resources },
    };
    expect(paidStartRequest.parse(paid).payment.token).toBe(ADDRESS);
  });

  it('take a token request without nonce and signature', () => {
    const { nonce: _n, signature: _s, ...tokenOnly } = free;
    expect(freeStartRequest.safeParse(tokenOnly).success).toBe(true);
  });

  it.each([
    [
      'an output that is no ECIES ciphertext',
      { output: '0x04abcd' },
      /^output: is too short to be an ECIES ciphertext/,
    ],
    ['a registry', { encryptedDockerRegistryAuth: '0x04' }, /^encryptedDockerRegistryAuth: a private registry/],
    ['a queue deadline', { queueMaxWaitTime: 30 }, /^queueMaxWaitTime: a queue deadline/],
    ['a policy server', { policyServer: { a: 1 } }, /^policyServer: a policy server/],
    [
      'a raw file object',
      { datasets: [{ ...free.datasets[0], fileObject: { type: 'url' } }] },
      /^datasets\.0\.fileObject/,
    ],
    ['a repeated dataset', { datasets: [free.datasets[0], free.datasets[0]] }, /^datasets\.1\.documentId: repeats/],
    ['an unknown resource', { resources: [{ id: 'gpu', amount: 1 }] }, /^resources\.0\.id/],
    [
      'a dataset without its order',
      { datasets: [{ documentId: DID, serviceId: 'compute' }] },
      /^datasets\.0\.transferTxId/,
    ],
    ['nested metadata', { metadata: { a: { b: 1 } } }, /^metadata\.a/],
    ['a viewer that is no address', { additionalViewers: ['bob'] }, /^additionalViewers\.0/],
  ])('refuse %s, naming the field', (_what, change, message) => {
    expect(firstIssue(freeStartRequest.safeParse({ ...free, ...change }))).toMatch(message);
  });

  it("take initializeCompute's datasets before they are ordered, and require its payment", () => {
    const body = {
      datasets: [{ documentId: DID, serviceId: 'compute' }],
      algorithm: { documentId: 'did:op:' + '2'.repeat(64), serviceId: 'access' },
      environment: 'default',
      payment: { chainId: 8996, token: ADDRESS, resources: free.resources },
      maxJobDuration: 60,
      consumerAddress: ADDRESS,
    };
    expect(v2InitializeRequest.safeParse(body).success).toBe(true);
    const { payment: _p, ...withoutPayment } = body;
    expect(firstIssue(v2InitializeRequest.safeParse(withoutPayment))).toMatch(/^payment/);
  });
});
