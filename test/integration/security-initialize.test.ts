import { Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../devcluster/local-stack.ts';
import { freePort } from '../../devcluster/processes.ts';
import { containerSectionChecksum } from '../../lib/access/algo-checksums.ts';
import { nodeContainer, OceanFlow, ScriptedFileServer, sha256hex } from '../support/ocean-flow.ts';

/**
 * Issue 10, item 5: the unsigned initializeCompute must not make the provider fetch what an attacker names. Trust is
 * decided before any download; only an algorithm that can pass is downloaded, within a cap of files, bytes and time;
 * internal addresses (loopback, private, link-local) are refused at every hop unless the operator allows them; and
 * whatever cannot be reached gets one answer, so that the answer tells nothing about what listens where.
 */

const env = inject('platform');
let stack: LocalStack;
/** The publisher's file server: the one internal address the provider is allowed (PRIVATE_FILE_HOSTS_ALLOWED). */
let files: ScriptedFileServer;
/** Stands for an internal service (as MinIO, which is tried too): not allowed. */
let internal: ScriptedFileServer;
let flow: OceanFlow;

const CODE = 'console.log("hello")\n';

async function refusal(res: Response): Promise<{ status: number; code?: string; field?: string; error?: string }> {
  const body = (await res.json()) as { code?: string; field?: string; error?: string };
  return { status: res.status, code: body.code, field: body.field, error: body.error };
}

beforeAll(async () => {
  files = await new ScriptedFileServer().start(env);
  internal = await new ScriptedFileServer().start();
  stack = await startLocalStack(env, { privateFileHosts: `127.0.0.1:${files.port}` });
  flow = new OceanFlow(env, stack);
});

afterAll(async () => {
  await stack?.stop();
  await files?.stop();
  await internal?.stop();
});

describe('initializeCompute downloads nothing it does not need', () => {
  it('refuses an untrusted algorithm of 100 files without downloading any', async () => {
    const urls = Array.from({ length: 100 }, (_, i) => files.file(`/many/${i}.js`, 'x'.repeat(256 * 1024)));
    const algorithm = await flow.publishAlgorithm(urls);
    const dataset = await flow.publishDataset(files.file('/many/data.csv', '1,2\n'), {
      publisherTrustedAlgorithms: [
        { did: 'did:op:' + 'ab'.repeat(32), filesChecksum: sha256hex('other'), containerSectionChecksum: '' },
      ],
    });
    expect(await refusal(await flow.initializeRaw([dataset], algorithm))).toMatchObject({
      status: 403,
      code: 'ALGORITHM_NOT_TRUSTED',
      field: 'algorithm.documentId',
    });
    const downloads = [...files.hits].filter(([path]) => path.startsWith('/many/')).length;
    expect(downloads).toBe(0);
  });

  it('downloads nothing for an algorithm permitted by its trusted publisher', async () => {
    const algorithm = await flow.publishAlgorithm([files.file('/publisher/algorithm.js', CODE)]);
    const dataset = await flow.publishDataset(files.file('/publisher/data.csv', '1,2\n'), {
      publisherTrustedAlgorithmPublishers: [new Wallet(env.keys.publisher).address],
    });
    const res = await flow.initializeRaw([dataset], algorithm);
    expect(res.status).toBe(200);
    expect(files.hitsOf('/publisher/algorithm.js')).toBe(0);
  });

  it('refuses an algorithm of more than one file before downloading', async () => {
    const urls = [files.file('/two/a.js', CODE), files.file('/two/b.js', CODE)];
    const algorithm = await flow.publishAlgorithm(urls);
    const dataset = await flow.publishDataset(files.file('/two/data.csv', '1,2\n'), {
      publisherTrustedAlgorithmPublishers: [new Wallet(env.keys.publisher).address],
    });
    expect(await refusal(await flow.initializeRaw([dataset], algorithm))).toMatchObject({
      status: 403,
      code: 'FILES_UNSUPPORTED',
      field: 'algorithm.documentId',
    });
    expect(files.hitsOf('/two/a.js') + files.hitsOf('/two/b.js')).toBe(0);
  });

  it('stops a download at the byte cap', async () => {
    const big = Buffer.alloc(20 * 1024 * 1024, 'x').toString();
    const algorithm = await flow.publishAlgorithm([files.file('/big/algorithm.js', big)]);
    const dataset = await flow.publishDataset(files.file('/big/data.csv', '1,2\n'), {
      publisherTrustedAlgorithms: [
        {
          did: algorithm.did,
          filesChecksum: sha256hex(big),
          containerSectionChecksum: containerSectionChecksum(nodeContainer(env)),
        },
      ],
    });
    expect(await refusal(await flow.initializeRaw([dataset], algorithm))).toEqual({
      status: 403,
      code: 'FILES_UNREACHABLE',
      field: 'algorithm.documentId',
      error: 'algorithm file 0 could not be downloaded',
    });
  });
});

describe('initializeCompute is no oracle for internal addresses', () => {
  /** A pinned algorithm whose one file is at `url`: the provider would have to download it to check the pin. */
  async function pinnedAt(url: string) {
    const algorithm = await flow.publishAlgorithm([url]);
    const dataset = await flow.publishDataset(files.file(`/pinned/${algorithm.did}.csv`, '1,2\n'), {
      publisherTrustedAlgorithms: [
        {
          did: algorithm.did,
          filesChecksum: sha256hex(CODE),
          containerSectionChecksum: containerSectionChecksum(nodeContainer(env)),
        },
      ],
    });
    return refusal(await flow.initializeRaw([dataset], algorithm));
  }

  it('answers the same for an internal service that answers 403, one that answers 200, and a closed port, and asks none', async () => {
    const closed = `http://127.0.0.1:${await freePort()}/algorithm.js`;
    const answers = [
      await pinnedAt(`${env.s3.endpoint.replace(/\/$/, '')}/${env.s3.bucket}/algorithm.js`),
      await pinnedAt(internal.file('/algorithm.js', CODE)),
      await pinnedAt(closed),
    ];
    expect(answers[0]).toMatchObject({ status: 403 });
    expect(answers[0]!.error).not.toMatch(/HTTP|403|answered/);
    expect(answers[1]).toEqual(answers[0]);
    expect(answers[2]).toEqual(answers[0]);
    expect(internal.hitsOf('/algorithm.js')).toBe(0);
  });

  it('does not follow a redirect from an allowed server to an internal one', async () => {
    const target = internal.file('/behind-redirect.js', CODE);
    const hop = files.route('/hop/algorithm.js', (_req, res) => res.writeHead(302, { location: target }).end());
    expect(await pinnedAt(hop)).toEqual({
      status: 403,
      code: 'FILES_UNREACHABLE',
      field: 'algorithm.documentId',
      error: 'algorithm file 0 could not be downloaded',
    });
    expect(files.hitsOf('/hop/algorithm.js')).toBe(1);
    expect(internal.hitsOf('/behind-redirect.js')).toBe(0);
  });
});
