import type { CoreV1Api, V1Secret } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { JobStore } from '../../../../lib/api/jobs.ts';
import { jsonLogger } from '../../../../lib/http/log.ts';
import { readJobConfigMap } from '../../../../lib/job/configmap.ts';
import { initialStatus } from '../../../../lib/job/status.ts';
import { parseWorkflow } from '../../../../lib/job/workflow.ts';
import { FakeConfigMaps } from '../../../support/fake-configmaps.ts';
import { secretData, workflow } from '../../../support/job-fixtures.ts';

describe('creating a job', () => {
  it('keeps the workflow start parsed, unparsed again, and stores what a reader parses back to it', async () => {
    const configMaps = new FakeConfigMaps();
    const secrets: V1Secret[] = [];
    const core = Object.assign(configMaps, {
      createNamespacedSecret: async (req: { body: V1Secret }) => {
        secrets.push(req.body);
        return req.body;
      },
    }) as unknown as CoreV1Api;
    const parsed = parseWorkflow(workflow());
    const status = initialStatus(new Date('2025-01-01T00:00:00Z'));
    const job = await new JobStore(core, 'jobs', jsonLogger('test')).create(parsed, status, secretData());
    expect(job.workflow).toBe(parsed);
    expect(job.uid).toBeTruthy();
    expect(job.resourceVersion).toBeTruthy();
    const stored = readJobConfigMap(configMaps.objects.get(job.name)!);
    expect(stored.workflow).toEqual(parsed);
    expect(stored.status).toEqual(status);
    expect(secrets[0]?.metadata?.ownerReferences?.[0]?.uid).toBe(job.uid);
  });

  it("creates a v2 job's output Secret before its Secret, and removes the job when the output Secret fails", async () => {
    const configMaps = new FakeConfigMaps();
    const secrets: V1Secret[] = [];
    let refuse = false;
    const core = Object.assign(configMaps, {
      createNamespacedSecret: async (req: { body: V1Secret }) => {
        if (refuse) throw new Error('forbidden');
        secrets.push(req.body);
        return req.body;
      },
    }) as unknown as CoreV1Api;
    const store = new JobStore(core, 'jobs', jsonLogger('test'));
    const parsed = parseWorkflow(workflow({ outputTarget: true }));
    const job = await store.create(parsed, initialStatus(new Date()), secretData(), {}, '04abcd');
    expect(secrets.map((x) => x.metadata!.name)).toEqual([
      `c2d-job-${parsed.jobId}-output`,
      `c2d-job-${parsed.jobId}-secret`,
    ]);
    expect(secrets[0]!.stringData).toEqual({ 'output.hex': '04abcd' });
    expect(secrets[0]!.immutable).toBe(true);
    expect(secrets[0]!.metadata!.ownerReferences![0]!.uid).toBe(job.uid);
    refuse = true;
    const second = parseWorkflow(workflow({ outputTarget: true, jobId: 'f'.repeat(32) }));
    await expect(store.create(second, initialStatus(new Date()), secretData(), {}, '04abcd')).rejects.toThrow(
      'forbidden',
    );
    expect(configMaps.objects.has(`c2d-job-${second.jobId}`)).toBe(false);
  });
});
