/**
 * Two real nodes (`npm run dev -- up --nodes 2`): two kubelets, each with its containerd in a network
 * namespace of its own, linked to each other. Jobs run on both, each job's three pods on the node of its volume.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NAMESPACES, realNodeNames, startPlatform, type Platform } from '../../devcluster/platform.ts';
import { startPublicFileServer, type PublicFileServer } from '../../devcluster/real-node/public-file-server.ts';
import { startLocalStack, type LocalStack } from '../../devcluster/local-stack.ts';
import { loadKubeConfig } from '../../lib/kube/client.ts';
import { LABELS, jobNames } from '../../lib/job/names.ts';
import { StatusCode } from '../../lib/job/status.ts';
import { createJob, waitForFinal } from '../support/engine-jobs.ts';
import { buildJob, nodeAlgorithm, sha256 } from '../support/job-fixtures.ts';

const jobs = NAMESPACES.jobs;
const nodeNames = realNodeNames(2);
// The dataset on a public address inside each node's namespace, port 80: what the configure pods' policy allows.
const fileAddress = '203.0.113.20';
const dataset = 'alpha,beta\n1,2\n3,4\n';

let stateDir: string;
let platform: Platform;
let core: CoreV1Api;
let stack: LocalStack | undefined;
const fileServers: PublicFileServer[] = [];

beforeAll(async () => {
  if (process.getuid?.() !== 0)
    throw new Error('the real node needs root (network and mount namespaces, cgroups, containerd)');
  stateDir = mkdtempSync(join(tmpdir(), 'c2d-two-nodes-'));
  const t0 = Date.now();
  platform = await startPlatform(stateDir, (m) => console.log(`[two-nodes platform] ${m}`), { nodes: 2 });
  console.log(`[real-node figures] platform with two real nodes up in ${Date.now() - t0} ms`);
  core = loadKubeConfig(platform.env.kubeconfig).makeApiClient(CoreV1Api);
  // The same public address on every node: a job's configure pod fetches from the node it was scheduled on.
  for (const node of platform.realNodes!.nodes)
    fileServers.push(await startPublicFileServer(node.namespace, stateDir, fileAddress, { 'data.csv': dataset }));
  stack = await startLocalStack(platform.env, { engine: true });
}, 900_000);

afterAll(async () => {
  await stack?.stop();
  for (const s of fileServers) await s.stop();
  await platform?.stop();
  if (stateDir && !process.env.C2D_KEEP_STATE) rmSync(stateDir, { recursive: true, force: true });
}, 120_000);

describe('two real nodes', () => {
  it('are two kubelets, each Ready with containerd at its own address', async () => {
    const nodes = await Promise.all(nodeNames.map((name) => core.readNode({ name })));
    for (const node of nodes) {
      expect(node.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
      expect(node.status?.nodeInfo?.containerRuntimeVersion).toMatch(/^containerd:\/\//);
    }
    const addresses = nodes.map((n) => n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address);
    expect(addresses).toEqual(platform.realNodes!.nodes.map((n) => n.namespace.nodeAddress));
    expect(new Set(addresses).size).toBe(2);
  });

  it("runs jobs on both nodes, each job's three pods on the node of its volume", async () => {
    const built = Array.from({ length: 4 }, (_, i) =>
      buildJob({
        environment: stack!.environmentId,
        datasets: [{ files: [{ url: `http://${fileAddress}/data.csv`, checksum: sha256(dataset) }] }],
        algorithm: nodeAlgorithm(`
          const fs = require('fs');
          const input = fs.readFileSync(process.env.INPUTS + '/' + JSON.parse(process.env.DIDS)[0] + '/0', 'utf8');
          fs.writeFileSync(process.env.OUTPUTS + '/result.json', JSON.stringify({ job: ${i}, lines: input.trim().split('\\n').length }));
        `),
      }),
    );
    const t0 = Date.now();
    for (const job of built) await createJob(core, jobs, job);
    const done = await Promise.all(built.map((job) => waitForFinal(core, jobs, job.workflow.jobId, 300_000)));
    console.log(`[real-node figures] four jobs on two nodes: create → all final in ${Date.now() - t0} ms`);
    for (const job of done) expect(job.status.code, JSON.stringify(job.status)).toBe(StatusCode.JobFinished);

    const placement: string[] = [];
    for (const job of built) {
      const { jobId } = job.workflow;
      const pods = await core.listNamespacedPod({ namespace: jobs, labelSelector: `${LABELS.jobId}=${jobId}` });
      const byRole = Object.fromEntries(pods.items.map((p) => [p.metadata!.labels![LABELS.role], p.spec!.nodeName]));
      expect(Object.keys(byRole).sort(), jobId).toEqual(['algorithm', 'configure', 'publish']);
      const claim = await core.readNamespacedPersistentVolumeClaim({ name: jobNames(jobId).pvc, namespace: jobs });
      const volume = await core.readPersistentVolume({ name: claim.spec!.volumeName! });
      const volumeNode = volume.spec?.nodeAffinity?.required?.nodeSelectorTerms[0]?.matchExpressions?.[0]?.values;
      expect(volumeNode, jobId).toHaveLength(1);
      expect(byRole, jobId).toEqual({ configure: volumeNode![0], algorithm: volumeNode![0], publish: volumeNode![0] });
      placement.push(volumeNode![0]!);
    }
    console.log(`[real-node figures] the four jobs' nodes: ${placement.join(', ')}`);
    expect(new Set(placement)).toEqual(new Set(nodeNames));
  });
});
