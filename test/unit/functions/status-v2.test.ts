import { describe, expect, it } from 'vitest';
import { registerV2 } from '../../../functions/status/v2.ts';
import { JobStore } from '../../../lib/api/jobs.ts';
import { issueToken } from '../../../lib/auth/auth-token.ts';
import { KubeTokenStore } from '../../../lib/auth/token-store.ts';
import { createFunctionApp } from '../../../lib/http/app.ts';
import { buildJobConfigMap } from '../../../lib/job/configmap.ts';
import { initialStatus } from '../../../lib/job/status.ts';
import { FakeConfigMaps } from '../../support/fake-configmaps.ts';
import { JOB_ID, OWNER, workflow } from '../../support/job-fixtures.ts';
import { silentLogger } from '../../support/silent-logger.ts';

const VIEWER = '0x' + 'cc'.repeat(20);
const STRANGER = '0x' + 'dd'.repeat(20);
const NOW = new Date('2026-12-02T08:00:00Z');

async function setup(requireSignature = false) {
  const jobsStore = new FakeConfigMaps();
  jobsStore.put(buildJobConfigMap(workflow({ viewers: [VIEWER] }), initialStatus(NOW), 'jobs'));
  const tokenStore = new FakeConfigMaps();
  const tokens = new KubeTokenStore(tokenStore.asCore(), 'sys');
  const app = createFunctionApp({ name: 'status', logger: silentLogger });
  registerV2(app, {
    jobs: new JobStore(jobsStore.asCore(), 'jobs', silentLogger),
    tokens,
    requireSignature,
    now: () => NOW,
  });
  const tokenOf = async (address: string) => {
    const issued = issueToken(address, NOW, undefined)!;
    await tokens.create(address, issued, NOW);
    return issued.token;
  };
  const get = (address: string, token?: string) =>
    app.request(`/v2/api/services/compute?consumerAddress=${address}&jobId=${JOB_ID}`, {
      headers: token ? { Authorization: token } : {},
    });
  return { get, tokenOf };
}

describe('GET /v2/api/services/compute', () => {
  it("answers the job to its owner and to a viewer it named, in ocean-node's codes, not to another address", async () => {
    const { get } = await setup();
    const owned = (await (await get(OWNER)).json()) as { status: number; statusText: string }[];
    expect(owned[0]).toMatchObject({ status: 1, statusText: 'Job queued' });
    expect((await get(VIEWER)).status).toBe(200);
    expect((await get(STRANGER)).status).toBe(403);
  });

  it('holds a token to its own address, and requires one when status must be authenticated', async () => {
    const { get, tokenOf } = await setup(true);
    expect((await get(OWNER)).status).toBe(401);
    const viewerToken = await tokenOf(VIEWER);
    expect((await get(VIEWER, viewerToken)).status).toBe(200);
    expect((await get(OWNER, viewerToken)).status).toBe(401);
    expect((await get(OWNER, 'garbage')).status).toBe(401);
  });
});
