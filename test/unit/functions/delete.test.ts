import { Wallet, getBytes, keccak256, toUtf8Bytes } from 'ethers';
import { describe, expect, it } from 'vitest';
import { createApp } from '../../../functions/delete/app.ts';
import { JobStore } from '../../../lib/api/jobs.ts';
import type { ObjectStore } from '../../../lib/api/objects.ts';
import { NONCE_FLOOR } from '../../../lib/auth/nonce-policy.ts';
import { KubeNonceStore, V1_NONCES } from '../../../lib/auth/nonce-store.ts';
import { StatusCode } from '../../../lib/job/status.ts';
import { FakeConfigMaps } from '../../support/fake-configmaps.ts';
import { jobConfigMap, nthJobId, paidJobConfigMap } from '../../support/job-fixtures.ts';
import { silentLogger } from '../../support/silent-logger.ts';

const owner = new Wallet('0x' + '22'.repeat(32));

/** The owner's delete request for job 1; the fixture's jobs belong to OWNER, so the job is given this owner. */
async function deleteRequest() {
  const jobId = nthJobId(1);
  const nonce = NONCE_FLOOR + 1n;
  const text = `${owner.address}${jobId}${nonce}`;
  return {
    consumerAddress: owner.address,
    jobId,
    nonce: String(nonce),
    signature: await owner.signMessage(getBytes(keccak256(toUtf8Bytes(text)))),
  };
}

function setup(paid: 'settling' | 'settled') {
  const jobs = new FakeConfigMaps();
  const cm = jobConfigMap(1, StatusCode.JobFinished, { namespace: 'jobs' });
  const wf = JSON.parse(cm.data!['workflow.json']!) as Record<string, unknown>;
  cm.data!['workflow.json'] = JSON.stringify({ ...wf, owner: owner.address.toLowerCase() });
  jobs.put(paidJobConfigMap(cm, paid === 'settled' ? 'claimed' : undefined));
  const touched: string[] = [];
  const objects: ObjectStore = {
    bucket: 'results',
    connect: () => {
      touched.push('results');
      return Promise.reject(new Error('no object store in this test'));
    },
  };
  const app = createApp({
    logger: silentLogger,
    jobs: new JobStore(jobs.asCore(), 'jobs', silentLogger),
    nonces: new KubeNonceStore(new FakeConfigMaps().asCore(), 'sys', V1_NONCES),
    objects,
  });
  const send = async () =>
    app.request('/api/services/compute', { method: 'DELETE', body: JSON.stringify(await deleteRequest()) });
  return { send, touched };
}

describe('DELETE /api/services/compute', () => {
  it("answers 409 while a paid job's escrow lock is being settled, and removes nothing", async () => {
    const { send, touched } = setup('settling');
    const res = await send();
    expect(res.status).toBe(409);
    expect(((await res.json()) as { error: string }).error).toMatch(/escrow payment is still being settled/);
    expect(touched).toEqual([]);
  });

  it('goes on to the results once the settlement is recorded', async () => {
    const { send, touched } = setup('settled');
    await send();
    expect(touched).toEqual(['results']);
  });
});
