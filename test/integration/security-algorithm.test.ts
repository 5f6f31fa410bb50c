import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../devcluster/local-stack.ts';
import { containerSectionChecksum } from '../../lib/access/algo-checksums.ts';
import { readJobConfigMap } from '../../lib/job/configmap.ts';
import { jobNames } from '../../lib/job/names.ts';
import { loadKubeConfig } from '../../lib/kube/client.ts';
import { nodeContainer, OceanFlow, ScriptedFileServer, sha256hex } from '../support/ocean-flow.ts';

/**
 * Issue 10, item 4: the algorithm the provider checked must be the algorithm that runs. An attacker's file server
 * answers the provider's checksum download with the trusted bytes and the configure pod with other code (time of
 * check ≠ time of use), or sends either of them elsewhere with a redirect.
 */

const env = inject('platform');
let stack: LocalStack;
let files: ScriptedFileServer;
let flow: OceanFlow;

const SECRET_ROWS = 'alice,4111111111111111\nbob,5500000000000004\n';
const TRUSTED = `require('fs').writeFileSync(require('path').join(process.env.OUTPUTS, 'count.json'), JSON.stringify({ ok: true }));\n`;
/** What the attacker wants to run instead: copies the dataset into the outputs. */
const UNTRUSTED = `
const fs = require('fs');
const path = require('path');
const did = JSON.parse(process.env.DIDS)[0];
fs.copyFileSync(path.join(process.env.INPUTS, did, '0'), path.join(process.env.OUTPUTS, 'leak.csv'));
`;

const trust = (did: string) => ({
  publisherTrustedAlgorithms: [
    { did, filesChecksum: sha256hex(TRUSTED), containerSectionChecksum: containerSectionChecksum(nodeContainer(env)) },
  ],
});

beforeAll(async () => {
  files = await new ScriptedFileServer().start(env);
  // Only the file server: the platform's own services on loopback stay out of the provider's reach.
  stack = await startLocalStack(env, { privateFileHosts: `127.0.0.1:${files.port}` });
  flow = new OceanFlow(env, stack);
});

afterAll(async () => {
  await stack?.stop();
  await files?.stop();
});

describe('the algorithm that runs is the one the provider verified', () => {
  it('fails the job at configure (32) when the file serves other bytes after the check, and records the verified digest', async () => {
    // The attacker's server: the trusted bytes while the provider checks, other code from the moment start has checked.
    let trustedLeft = Number.POSITIVE_INFINITY;
    const algoUrl = files.route('/toctou/algorithm.js', (_req, res) => {
      const body = trustedLeft > 0 ? TRUSTED : UNTRUSTED;
      trustedLeft -= 1;
      res.writeHead(200).end(body);
    });
    const algorithm = await flow.publishAlgorithm([algoUrl]);
    const dataset = await flow.publishDataset(files.file('/toctou/data.csv', SECRET_ROWS), trust(algorithm.did));
    const orders = await flow.initializeAndOrder(dataset, algorithm);
    const downloadsBefore = files.hitsOf('/toctou/algorithm.js');
    trustedLeft = 1; // start's own check
    const job = await flow.start(dataset, algorithm, orders);
    expect(files.hitsOf('/toctou/algorithm.js') - downloadsBefore, 'start checks the algorithm file once').toBe(1);

    const finished = await flow.untilFinished(job.jobId);
    expect(files.hitsOf('/toctou/algorithm.js') - downloadsBefore, 'configure downloaded the other code').toBe(2);
    expect(finished.results.map((r) => r.filename)).not.toContain('leak.csv');
    expect({ status: finished.status, statusText: finished.statusText }).toEqual({
      status: 32,
      statusText: 'Algorithm provisioning failed',
    });
    const configureLog = finished.results.find((r) => r.filename === 'configure.log');
    if (configureLog)
      expect(await flow.result(job.jobId, configureLog.index ?? 0)).toContain('sha256 checksum differs');

    const core = loadKubeConfig(env.kubeconfig).makeApiClient(CoreV1Api);
    const cm = readJobConfigMap(
      await core.readNamespacedConfigMap({ name: jobNames(job.jobId).configMap, namespace: env.namespaces.jobs }),
    );
    expect(cm.workflow.algorithm).toMatchObject({
      kind: 'published',
      files: [{ index: 0, checksum: sha256hex(TRUSTED) }],
    });
  });

  it('refuses an algorithm file that answers with a redirect, and never follows it', async () => {
    files.file('/redirect/target.js', TRUSTED);
    const algoUrl = files.route('/redirect/algorithm.js', (_req, res) =>
      res.writeHead(302, { location: `${files.base}/redirect/target.js` }).end(),
    );
    const algorithm = await flow.publishAlgorithm([algoUrl]);
    const dataset = await flow.publishDataset(files.file('/redirect/data.csv', SECRET_ROWS), trust(algorithm.did));
    const res = await flow.initializeRaw([dataset], algorithm);
    expect({ status: res.status, body: await res.json() }).toEqual({
      status: 403,
      body: expect.objectContaining({
        code: 'FILES_UNREACHABLE',
        field: 'algorithm.documentId',
        error: 'algorithm file 0 could not be downloaded',
      }),
    });
    expect(files.hitsOf('/redirect/algorithm.js')).toBe(1);
    expect(files.hitsOf('/redirect/target.js')).toBe(0);
  });

  it('fails the job at configure (31) when a dataset file answers with a redirect', async () => {
    const algorithm = await flow.publishAlgorithm([files.file('/dataset-redirect/algorithm.js', TRUSTED)]);
    files.file('/dataset-redirect/target.csv', SECRET_ROWS);
    const dataUrl = files.route('/dataset-redirect/data.csv', (_req, res) =>
      res.writeHead(302, { location: `${files.base}/dataset-redirect/target.csv` }).end(),
    );
    const dataset = await flow.publishDataset(dataUrl, trust(algorithm.did));
    const job = await flow.start(dataset, algorithm, await flow.initializeAndOrder(dataset, algorithm));
    const finished = await flow.untilFinished(job.jobId);
    expect({ status: finished.status, statusText: finished.statusText }).toEqual({
      status: 31,
      statusText: 'Data provisioning failed',
    });
    expect(files.hitsOf('/dataset-redirect/data.csv')).toBe(1);
    expect(files.hitsOf('/dataset-redirect/target.csv')).toBe(0);
  });
});
