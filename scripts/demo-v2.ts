/**
 * `npm run demo -- v2`: the v2 API end to end with Ocean's current client, ocean.js 8.x's ProviderInstance,
 * unchanged, on the same platform as `npm run demo` (demo-platform.ts: every request through the provider's one URL,
 * the engine as its Deployment): a publisher publishes a dataset and a trusted algorithm; the consumer reads `<provider>/v2`, takes an
 * auth token, lists the environments (with their free tier), initializes and orders, starts a free job with the
 * token, streams the running algorithm's log, and downloads the results. Exits 0 only if the job finished (70).
 */
import { JsonRpcProvider, Wallet } from 'ethers';
import { ProviderInstance as V8 } from '@oceanprotocol/lib-v8';
import { algorithmDdo, datasetDdo, orderAsset, publishAsset } from '../devcluster/ocean-assets.ts';
import { containerSectionChecksum } from '../lib/access/algo-checksums.ts';
import type { ProviderFee } from '../lib/chain/provider-fee.ts';
import { startDemoProvider } from './demo-platform.ts';

const step = (m: string): void => console.log(`\n▶ ${m}`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type Job = {
  jobId: string;
  status: number;
  statusText: string;
  results: { index: number; type: string; filename: string; filesize: number }[];
};
const one = (r: unknown): Job => (Array.isArray(r) ? r[0] : r) as Job;

async function text(stream: AsyncIterable<Uint8Array>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}

async function main(): Promise<void> {
  step(
    'Starting the platform (control plane, a kubelet + containerd node, Knative Serving and Traefik, chain, object ' +
      'store), then the provider: every function by knative/deploy.sh behind one URL, the engine as its Deployment',
  );
  // Its job asks for half a CPU (below): on this 2-CPU node, Knative and the functions the demo wakes request most
  // of the rest.
  const demo = await startDemoProvider((m) => console.log(`  ${m}`), {
    minimums: { cpu: 0.5, memoryMiB: 256, diskMiB: 256 },
    free: {
      cpu: 1,
      memoryMiB: 512,
      diskMiB: 512,
      maxJobDurationSeconds: 300,
      maxConcurrentJobs: 2,
      access: { addresses: [] },
    },
  });
  const { env } = demo;
  const consumer = new Wallet(env.keys.consumer, new JsonRpcProvider(env.rpcUrl));
  try {
    const provider = new Wallet(env.keys.provider);
    const v2 = `${demo.providerUrl}/v2`;

    step(`Consumer: reading ${v2}`);
    const root = (await (await fetch(v2)).json()) as {
      serviceEndpoints: Record<string, unknown>;
      nodePublicKey: string;
    };
    console.log(`  services: ${Object.keys(root.serviceEndpoints).join(', ')}`);
    console.log(`  nodePublicKey ${root.nodePublicKey.slice(0, 20)}…`);

    step('Publisher: publishing the algorithm and a dataset that trusts it, both served by <provider>/v2');
    const container = demo.container;
    const algoFiles = [{ type: 'url' as const, url: demo.fileUrl('sensor-stats.js'), method: 'GET' as const }];
    const publish = (ddo: ReturnType<typeof datasetDdo>) =>
      publishAsset({
        rpcUrl: env.rpcUrl,
        ocean: env.ocean,
        publisherKey: env.keys.publisher,
        providerAddress: provider.address,
        encryptFilesTo: provider.signingKey.publicKey,
        mintTo: consumer.address,
        ddo,
      });
    const algo = await publish(
      algorithmDdo({
        name: 'Sensor statistics',
        files: algoFiles,
        serviceEndpoint: v2,
        container,
        language: 'javascript',
      }),
    );
    const trusted = {
      did: algo.did,
      filesChecksum: demo.algorithmFilesChecksum,
      containerSectionChecksum: containerSectionChecksum(container),
    };
    const data = await publish(
      datasetDdo({
        name: 'Greenhouse sensors, 48 h',
        files: [{ type: 'url', url: demo.fileUrl('sensors.csv'), method: 'GET' }],
        serviceEndpoint: v2,
        compute: { publisherTrustedAlgorithms: [trusted] },
      }),
    );
    console.log(`  algorithm ${algo.did}\n  dataset   ${data.did}`);

    step('Consumer: an auth token (signed over address + nonce + "createAuthToken")');
    const token = await V8.generateAuthToken(consumer, v2);
    console.log(`  ${token.slice(0, 32)}…`);

    step('Consumer: the compute environments');
    const envs = (await V8.getComputeEnvironments(v2)) as unknown as {
      id: string;
      resources: { id: string; min: number; max: number; inUse: number }[];
      free?: { maxJobDuration: number; maxJobs: number };
    }[];
    for (const e of envs) {
      const res = e.resources.map((r) => `${r.id} ${r.min}–${r.max} (in use ${r.inUse})`).join(', ');
      console.log(
        `  ${e.id}: ${res}; free tier: ${e.free ? `${e.free.maxJobs} jobs of up to ${e.free.maxJobDuration} s` : 'none'}`,
      );
    }

    step('Consumer: initializeCompute, then ordering both assets on chain');
    const resources = [
      { id: 'cpu', amount: 0.5 },
      { id: 'ram', amount: 0.5 },
      { id: 'disk', amount: 0.5 },
    ];
    const dataset = { documentId: data.did, serviceId: data.ddo.services[0]!.id };
    const algorithm = { documentId: algo.did, serviceId: algo.ddo.services[0]!.id };
    const init = (await V8.initializeCompute(
      [dataset],
      algorithm,
      demo.environmentId,
      env.ocean.Ocean!,
      300,
      v2,
      consumer.address,
      resources,
      env.chainId,
    )) as unknown as { datasets: { providerFee: ProviderFee }[]; algorithm: { providerFee: ProviderFee } };
    const order = (datatokenAddress: string, fee: ProviderFee) =>
      orderAsset({
        rpcUrl: env.rpcUrl,
        consumerKey: env.keys.consumer,
        datatokenAddress,
        serviceIndex: 0,
        providerFee: {
          ...fee,
          v: Number(fee.v),
          validUntil: Number(fee.validUntil),
          providerFeeAmount: String(fee.providerFeeAmount),
        },
      });
    const datasetTx = await order(data.datatokenAddresses[0]!, init.datasets[0]!.providerFee);
    const algoTx = await order(algo.datatokenAddresses[0]!, init.algorithm.providerFee);
    console.log(`  dataset order ${datasetTx}\n  algorithm order ${algoTx}`);

    step('Consumer: a free job, started with the token');
    const job = one(
      await V8.freeComputeStart(
        v2,
        token,
        demo.environmentId,
        [{ ...dataset, transferTxId: datasetTx }],
        { ...algorithm, transferTxId: algoTx },
        resources,
        { demo: 'v2' },
      ),
    );
    console.log(`  job ${job.jobId}: ${job.status} ${job.statusText}`);

    step("Following the job (ocean-node's status codes)");
    let status = job;
    let last = '';
    let streamed = false;
    const deadline = Date.now() + 5 * 60_000;
    while (Date.now() < deadline) {
      status = one(await V8.computeStatus(v2, token, job.jobId));
      const line = `${status.status} ${status.statusText}`;
      if (line !== last) console.log(`  [${new Date().toISOString().slice(11, 19)}] ${line}`);
      last = line;
      if (status.status >= 40 && !streamed) {
        streamed = true;
        const stream = await V8.computeStreamableLogs(v2, token, job.jobId);
        if (stream) {
          console.log('  ── algorithm log (computeStreamableLogs) ──');
          process.stdout.write((await text(stream as AsyncIterable<Uint8Array>)).replace(/^(?=.)/gm, '  │ '));
          console.log('  ───────────────────');
        }
      }
      if (status.status === 70 || [31, 32, 41, 42, 62].includes(status.status)) break;
      await sleep(300);
    }
    if (status.status !== 70) throw new Error(`job ended with, or was left at, ${status.status} ${status.statusText}`);

    step('Consumer: downloading the results (signed over address + nonce + "getComputeResult")');
    for (const result of status.results) {
      const body = await text(await V8.getComputeResult(v2, consumer, job.jobId, result.index));
      console.log(`  #${result.index} ${result.type} ${result.filename} (${result.filesize} bytes)`);
      if (result.type === 'output') console.log(body.replace(/^/gm, '      '));
    }

    step('Consumer: invalidating the token');
    console.log(`  ${JSON.stringify(await V8.invalidateAuthToken(consumer, token, v2))}`);
    console.log(`\n✔ job ${job.jobId} finished through the v2 API; the dataset never left the provider.`);
  } finally {
    await demo.stop();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`\n✘ demo failed: ${err instanceof Error ? err.message : err}`);
    process.exit(1);
  },
);
