import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { describe, expect, inject, it } from 'vitest';
import { makeS3Client } from '../../lib/job/results-store.ts';
import { loadKubeConfig } from '../../lib/kube/client.ts';

const run = promisify(execFile);
const env = inject('platform');

describe('object store', () => {
  it('reads back an object it stored', async () => {
    const s3 = makeS3Client(env.s3);
    const key = `it/${Date.now()}.txt`;
    await s3.send(new PutObjectCommand({ Bucket: env.s3.bucket, Key: key, Body: 'stored bytes' }));
    const got = await s3.send(new GetObjectCommand({ Bucket: env.s3.bucket, Key: key }));
    expect(await got.Body!.transformToString()).toBe('stored bytes');
    s3.destroy();
  });

  it('refuses wrong credentials', async () => {
    const s3 = makeS3Client({ ...env.s3, secretAccessKey: 'not-the-secret' });
    await expect(s3.send(new GetObjectCommand({ Bucket: env.s3.bucket, Key: 'x' }))).rejects.toThrow();
    s3.destroy();
  });
});

describe('Knative API', () => {
  const ns = env.namespaces.system;

  it('accepts `kn service apply` of a minimal service (no controller: --no-wait)', async () => {
    const { stdout } = await run(env.kn, [
      'service',
      'apply',
      'hello',
      '--namespace',
      ns,
      '--image',
      'c2d/functions:dev',
      '--no-wait',
      '--kubeconfig',
      env.kubeconfig,
    ]);
    expect(stdout).toMatch(/hello/);
    const api = loadKubeConfig(env.kubeconfig).makeApiClient(CustomObjectsApi);
    const svc = (await api.getNamespacedCustomObject({
      group: 'serving.knative.dev',
      version: 'v1',
      namespace: ns,
      plural: 'services',
      name: 'hello',
    })) as { spec: { template: { spec: { containers: { image: string }[] } } } };
    expect(svc.spec.template.spec.containers[0]!.image).toBe('c2d/functions:dev');
  });

  it('has the API server reject a service that breaks the CRD schema', async () => {
    const api = loadKubeConfig(env.kubeconfig).makeApiClient(CustomObjectsApi);
    const bad = {
      apiVersion: 'serving.knative.dev/v1',
      kind: 'Service',
      metadata: { name: 'broken' },
      spec: { template: { spec: { containers: 'not-a-list' } } },
    };
    await expect(
      api.createNamespacedCustomObject({
        group: 'serving.knative.dev',
        version: 'v1',
        namespace: ns,
        plural: 'services',
        body: bad,
      }),
    ).rejects.toMatchObject({ code: 422 });
  });
});
