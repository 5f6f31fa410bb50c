/**
 * The main job end to end on the real platform: a publisher publishes a dataset and a trusted algorithm on chain; a
 * consumer (ocean.js 3.x ProviderInstance, unchanged) initializes, orders, starts the job through the provider's one
 * URL (Traefik → activator / queue-proxy → each function's pod), follows its status and the algorithm's log, and
 * downloads the results. The engine runs as its Deployment, the job's pods on the node. Exits 0 only if the job
 * finished (70).
 */
import { Wallet, getBytes, keccak256, toUtf8Bytes } from 'ethers';
import { algorithmDdo, datasetDdo, orderAsset, publishAsset } from '../devcluster/ocean-assets.ts';
import { ProviderInstance, ethers5 } from '../devcluster/ocean-client.ts';
import { containerSectionChecksum } from '../lib/access/algo-checksums.ts';
import { FINAL_CODES } from '../lib/job/status.ts';
import { startDemoProvider } from './demo-platform.ts';

const step = (m: string): void => console.log(`\n▶ ${m}`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function signed(wallet: Wallet, message: string): Promise<string> {
  return wallet.signMessage(getBytes(keccak256(toUtf8Bytes(message))));
}

async function main(): Promise<void> {
  step(
    'Starting the platform (control plane, a kubelet + containerd node, Knative Serving and Traefik, chain, object ' +
      'store), then the provider as a publisher deploys it: every function by knative/deploy.sh behind one URL, the ' +
      'engine as its Deployment (manifests/engine.yaml)',
  );
  // Half a CPU per job: on this 2-CPU node, Knative and the functions the demo wakes request most of the rest.
  const demo = await startDemoProvider((m) => console.log(`  ${m}`), { cpu: 0.5 });
  const { env } = demo;
  try {
    const provider = new Wallet(env.keys.provider);
    const providerUrl = demo.providerUrl;
    const consumerKey = env.keys.consumer;
    const consumer5 = new ethers5.Wallet(consumerKey, new ethers5.providers.JsonRpcProvider(env.rpcUrl));
    const consumer = new Wallet(consumerKey);
    console.log(`  provider ${providerUrl} (address ${provider.address}), compute environment ${demo.environmentId}`);

    step('Publisher: publishing the algorithm (node:24 pinned by its digest, sensor statistics)');
    const container = demo.container;
    const algoFiles = [{ type: 'url' as const, url: demo.fileUrl('sensor-stats.js'), method: 'GET' as const }];
    const algo = await publishAsset({
      rpcUrl: env.rpcUrl,
      ocean: env.ocean,
      publisherKey: env.keys.publisher,
      providerAddress: provider.address,
      encryptFilesTo: provider.signingKey.publicKey,
      mintTo: consumer.address,
      ddo: algorithmDdo({
        name: 'Sensor statistics',
        files: algoFiles,
        serviceEndpoint: providerUrl,
        container,
        language: 'javascript',
      }),
    });
    console.log(`  ${algo.did}`);

    step('Publisher: publishing the dataset, trusting exactly that algorithm');
    const trusted = {
      did: algo.did,
      filesChecksum: demo.algorithmFilesChecksum,
      containerSectionChecksum: containerSectionChecksum(container),
    };
    const data = await publishAsset({
      rpcUrl: env.rpcUrl,
      ocean: env.ocean,
      publisherKey: env.keys.publisher,
      providerAddress: provider.address,
      encryptFilesTo: provider.signingKey.publicKey,
      mintTo: consumer.address,
      ddo: datasetDdo({
        name: 'Greenhouse sensors, 48 h',
        files: [{ type: 'url', url: demo.fileUrl('sensors.csv'), method: 'GET' }],
        serviceEndpoint: providerUrl,
        compute: { publisherTrustedAlgorithms: [trusted] },
      }),
    });
    console.log(`  ${data.did} (its file URL is encrypted to the provider and never shown to the consumer)`);

    step('Consumer: initializeCompute (provider fees), then ordering both assets on chain');
    const dataset = { documentId: data.did, serviceId: data.ddo.services[0]!.id };
    const algorithm = { documentId: algo.did, serviceId: algo.ddo.services[0]!.id };
    const validUntil = Math.floor(Date.now() / 1000) + 3600;
    const init = await ProviderInstance.initializeCompute(
      [dataset],
      algorithm,
      demo.environmentId,
      validUntil,
      providerUrl,
      consumer.address,
    );
    const datasetFee = init.datasets?.[0]?.providerFee;
    const algoFee = init.algorithm?.providerFee;
    if (!datasetFee || !algoFee) throw new Error(`initializeCompute returned no provider fee: ${JSON.stringify(init)}`);
    const toFee = (f: typeof datasetFee) => ({
      ...f,
      v: Number(f.v),
      validUntil: Number(f.validUntil),
      providerFeeAmount: String(f.providerFeeAmount),
    });
    const datasetTx = await orderAsset({
      rpcUrl: env.rpcUrl,
      consumerKey,
      datatokenAddress: data.datatokenAddresses[0]!,
      serviceIndex: 0,
      providerFee: toFee(datasetFee),
    });
    const algoTx = await orderAsset({
      rpcUrl: env.rpcUrl,
      consumerKey,
      datatokenAddress: algo.datatokenAddresses[0]!,
      serviceIndex: 0,
      providerFee: toFee(algoFee),
    });
    console.log(`  dataset order ${datasetTx}\n  algorithm order ${algoTx}`);

    step('Consumer: starting the job through the provider API');
    const started = await ProviderInstance.computeStart(
      providerUrl,
      consumer5,
      demo.environmentId,
      { ...dataset, transferTxId: datasetTx },
      { ...algorithm, transferTxId: algoTx },
    );
    const job = Array.isArray(started) ? started[0]! : started;
    console.log(`  job ${job.jobId}: ${job.status} ${job.statusText}`);

    step('Following the job');
    let last = '';
    let status = job;
    const deadline = Date.now() + 5 * 60_000;
    let logStreamed = false;
    let logTried = false;
    while (Date.now() < deadline) {
      const s = await ProviderInstance.computeStatus(providerUrl, consumer.address, job.jobId);
      status = Array.isArray(s) ? s[0]! : s;
      const line = `${status.status} ${status.statusText}`;
      if (line !== last) console.log(`  [${new Date().toISOString().slice(11, 19)}] ${line}`);
      last = line;
      // From 40 on: while the algorithm runs the log streams live from its pod; a job that got past 40 between two
      // polls serves it from wherever it is now.
      if (status.status >= 40 && !logTried) {
        logTried = true;
        logStreamed = await streamAlgorithmLog(providerUrl, consumer, job.jobId);
      }
      if (finished(status)) break;
      await sleep(300);
    }
    if (!finished(status)) {
      throw new Error(
        `timed out after 5 min waiting for job ${job.jobId} to finish (last: ${status.status} ${status.statusText})`,
      );
    }
    if (status.status !== 70) throw new Error(`job ended with ${status.status} ${status.statusText}`);

    step('Consumer: downloading the results');
    for (const result of status.results ?? []) {
      const url = await ProviderInstance.getComputeResultUrl(providerUrl, consumer5, job.jobId, result.index ?? 0);
      const body = await (await fetch(url, { signal: AbortSignal.timeout(60_000) })).text();
      console.log(`  #${result.index} ${result.type} ${result.filename} (${result.filesize} bytes)`);
      // The stored algorithm log is shown when its live stream could not be.
      if (result.type === 'output' || (result.type === 'algorithmLog' && !logStreamed))
        console.log(body.replace(/^/gm, '      '));
    }
    console.log(`\n✔ job ${job.jobId} finished; the dataset never left the provider, only these results did.`);
  } finally {
    await demo.stop();
  }
}

function finished(status: { status: number; dateFinished?: string | null }): boolean {
  return Boolean(status.dateFinished) || (FINAL_CODES as ReadonlySet<number>).has(status.status);
}

/** The algorithm's output as it runs, through the signed logs endpoint (follow=true streams from the pod). */
async function streamAlgorithmLog(providerUrl: string, consumer: Wallet, jobId: string): Promise<boolean> {
  const nonce = String(Number(await ProviderInstance.getNonce(providerUrl, consumer.address)) + 1);
  const signature = await signed(consumer, consumer.address + jobId + 'algorithm' + nonce);
  const q = new URLSearchParams({
    consumerAddress: consumer.address,
    jobId,
    stage: 'algorithm',
    follow: 'true',
    nonce,
    signature,
  });
  // Bounded like the job itself: the stream ends with the algorithm, and at the demo's deadline at the latest.
  const res = await fetch(`${providerUrl}/api/services/computeLogs?${q}`, { signal: AbortSignal.timeout(5 * 60_000) });
  if (!res.ok || !res.body) {
    console.log(`  (algorithm log not available yet: HTTP ${res.status}; it is printed with the results)`);
    return false;
  }
  console.log('  ── algorithm log ──');
  const decoder = new TextDecoder();
  for await (const chunk of res.body)
    process.stdout.write(decoder.decode(chunk as Uint8Array).replace(/^(?=.)/gm, '  │ '));
  console.log('  ───────────────────');
  return true;
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`\n✘ demo failed: ${err instanceof Error ? err.message : err}`);
    process.exit(1);
  },
);
