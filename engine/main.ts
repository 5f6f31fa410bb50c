import { createServer } from 'node:http';
import { hostname } from 'node:os';
import { CoordinationV1Api, CoreV1Api, Watch } from '@kubernetes/client-node';
import { parsePrivateHostAllowList } from '../lib/http/address-policy.ts';
import { errorText, jsonLogger } from '../lib/http/log.ts';
import { loadKubeConfig } from '../lib/kube/client.ts';
import { makeS3Client } from '../lib/job/results-store.ts';
import { resultsStoreConfigFromEnv } from '../lib/job/results-store-config.ts';
import { Env } from '../lib/env.ts';
import { Engine } from './engine.ts';
import { LeaderElector } from './leader.ts';
import { EngineMetrics } from './metrics.ts';
import { DEFAULT_POD_SPEC_SETTINGS, type PodSpecSettings } from './pod-specs.ts';
import { DEFAULT_PLANNER_SETTINGS, type PlannerSettings } from './planner.ts';
import { orphanLockChain, settlementChain } from '../lib/payment/escrow.ts';
import { OrphanSweeper } from './orphan-sweep.ts';
import { Settler, escrowClientFromEnv } from './settlement.ts';

/**
 * The engine process. Environment:
 *   JOBS_NAMESPACE (c2d-jobs), ENVIRONMENTS_NAMESPACE (= JOBS_NAMESPACE), LEASE_NAMESPACE (= JOBS_NAMESPACE),
 *   LEASE_NAME (c2d-engine), LEASE_DURATION_SECONDS (15), LEASE_RENEW_DEADLINE_SECONDS (two thirds of the
 *   duration, below it), API_REQUEST_TIMEOUT_SECONDS (30; Kubernetes and object store calls), POD_NAME (identity; hostname), METRICS_PORT (9090),
 *   CONCURRENCY (16), RESYNC_PERIOD_SECONDS (300: every job is reconciled again this often), POD_PROGRAMS_IMAGE, RESULTS_STORE_SECRET (c2d-results-store), OUTPUT_KEY_SECRET (c2d-output-key), JOB_UID/JOB_GID (1000),
 *   STORAGE_CLASS, CONFIGURE_DEADLINE_SECONDS, PUBLISH_DEADLINE_SECONDS, DEADLINE_GRACE_SECONDS,
 *   SECRET_WAIT_SECONDS, RETENTION_SECONDS, INFRASTRUCTURE_RETRIES (2: new pods a stage gets after the infrastructure
 *   failed one), OBSERVATION_RETRY_SECONDS (120: how long results that cannot be read are asked for again before
 *   the job ends 62; the stage's deadline bounds it too), PRIVATE_FILE_HOSTS_ALLOWED (internal addresses configure pods may
 *   download from, lib/http/address-policy.ts; default none), and S3_ENDPOINT, S3_REGION, S3_BUCKET, S3_ACCESS_KEY_ID,
 *   S3_SECRET_ACCESS_KEY (to remove expired results); for paid compute, ESCROW_ADDRESS, RPC_URL, CHAIN_ID and
 *   PROVIDER_KEY or PROVIDER_KEY_FILE (engine/settlement.ts: claims and releases the jobs' escrow locks), and
 *   ORPHAN_LOCK_MIN_AGE_SECONDS (900), ORPHAN_LOCK_SWEEP_SECONDS (300), ORPHAN_LOCK_SWEEP_MAX (10 per pass):
 *   engine/orphan-sweep.ts gives back the locks no job settles.
 */
const env = new Env();
const log = jsonLogger('engine');

const namespace = env.string('JOBS_NAMESPACE', 'c2d-jobs');
const storageClassName = env.optional('STORAGE_CLASS');
const planner: PlannerSettings = {
  configureDeadlineSeconds: env.int('CONFIGURE_DEADLINE_SECONDS', DEFAULT_PLANNER_SETTINGS.configureDeadlineSeconds),
  publishDeadlineSeconds: env.int('PUBLISH_DEADLINE_SECONDS', DEFAULT_PLANNER_SETTINGS.publishDeadlineSeconds),
  deadlineGraceSeconds: env.int('DEADLINE_GRACE_SECONDS', DEFAULT_PLANNER_SETTINGS.deadlineGraceSeconds),
  secretWaitSeconds: env.int('SECRET_WAIT_SECONDS', DEFAULT_PLANNER_SETTINGS.secretWaitSeconds),
  retentionSeconds: env.int('RETENTION_SECONDS', DEFAULT_PLANNER_SETTINGS.retentionSeconds),
  defaultStorageExpirySeconds: DEFAULT_PLANNER_SETTINGS.defaultStorageExpirySeconds,
  infrastructureRetries: env.int('INFRASTRUCTURE_RETRIES', DEFAULT_PLANNER_SETTINGS.infrastructureRetries, { max: 10 }),
  observationRetrySeconds: env.int('OBSERVATION_RETRY_SECONDS', DEFAULT_PLANNER_SETTINGS.observationRetrySeconds),
  observationRetryIntervalSeconds: DEFAULT_PLANNER_SETTINGS.observationRetryIntervalSeconds,
};
const pods: PodSpecSettings = {
  ...DEFAULT_POD_SPEC_SETTINGS,
  podProgramsImage: env.string('POD_PROGRAMS_IMAGE', DEFAULT_POD_SPEC_SETTINGS.podProgramsImage),
  resultsStoreSecret: env.string('RESULTS_STORE_SECRET', DEFAULT_POD_SPEC_SETTINGS.resultsStoreSecret),
  outputKeySecret: env.string('OUTPUT_KEY_SECRET', DEFAULT_POD_SPEC_SETTINGS.outputKeySecret),
  uid: env.int('JOB_UID', DEFAULT_POD_SPEC_SETTINGS.uid),
  gid: env.int('JOB_GID', DEFAULT_POD_SPEC_SETTINGS.gid),
  configureDeadlineSeconds: planner.configureDeadlineSeconds,
  publishDeadlineSeconds: planner.publishDeadlineSeconds,
  download: {
    ...DEFAULT_POD_SPEC_SETTINGS.download,
    privateHostsAllowed: env.parsed('PRIVATE_FILE_HOSTS_ALLOWED', parsePrivateHostAllowList, '').text,
  },
  ...(storageClassName !== undefined && { storageClassName }),
};
const storeConfig = resultsStoreConfigFromEnv(env);
const identity = env.string('POD_NAME', `${hostname()}-${process.pid}`);
const leaseDurationSeconds = env.int('LEASE_DURATION_SECONDS', 15);
const renewDeadlineSeconds = env.optionalInt('LEASE_RENEW_DEADLINE_SECONDS', { max: leaseDurationSeconds - 1 });
const renewDeadlineMs = (renewDeadlineSeconds ?? (leaseDurationSeconds * 2) / 3) * 1000;
const requestTimeoutMs = env.int('API_REQUEST_TIMEOUT_SECONDS', 30) * 1000;
const kubeConfig = loadKubeConfig(undefined, { requestTimeoutMs });
// A Lease call may take at most half the renew deadline, so a stalled one leaves time for another try.
const leaseKubeConfig = loadKubeConfig(undefined, {
  requestTimeoutMs: Math.min(requestTimeoutMs, Math.floor(renewDeadlineMs / 2)),
});
const metrics = new EngineMetrics();
const api = kubeConfig.makeApiClient(CoreV1Api);
const leaseNamespace = env.string('LEASE_NAMESPACE', namespace);
const leases = leaseKubeConfig.makeApiClient(CoordinationV1Api);
// The provider key's transactions share one Lease with start's (lib/payment/provider-tx.ts) in the same namespace.
const escrow = escrowClientFromEnv(env, requestTimeoutMs, { leases, namespace: leaseNamespace }, log);
const settlement = escrow && new Settler({ api, namespace, log, chain: settlementChain(escrow) });
const sweeper =
  escrow &&
  new OrphanSweeper({
    chain: orphanLockChain(escrow),
    api,
    namespace,
    log,
    minAgeMs: env.int('ORPHAN_LOCK_MIN_AGE_SECONDS', 900) * 1000,
    intervalMs: env.int('ORPHAN_LOCK_SWEEP_SECONDS', 300) * 1000,
    maxPerPass: env.int('ORPHAN_LOCK_SWEEP_MAX', 10, { max: 100 }),
  });

const engine = new Engine({
  api,
  watch: new Watch(kubeConfig),
  namespace,
  environmentsNamespace: env.string('ENVIRONMENTS_NAMESPACE', namespace),
  planner,
  pods,
  store: { client: makeS3Client(storeConfig, { requestTimeoutMs }), bucket: storeConfig.bucket },
  concurrency: env.int('CONCURRENCY', 16),
  resyncPeriodMs: env.int('RESYNC_PERIOD_SECONDS', 300) * 1000,
  identity,
  log,
  metrics,
  ...(settlement && { settlement }),
  ...(sweeper && { sweeper }),
});
const leader = new LeaderElector({
  api: leases,
  namespace: leaseNamespace,
  name: env.string('LEASE_NAME', 'c2d-engine'),
  identity,
  leaseDurationSeconds,
  renewDeadlineMs: Math.floor(renewDeadlineMs),
  log,
});
metrics.isLeader = () => leader.isLeader();

const server = createServer((req, res) => {
  if (req.url === '/metrics') {
    metrics.render().then(
      (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(text),
      (err: unknown) => {
        log.error('metrics failed to render', { error: (err as Error).message });
        res.writeHead(500).end();
      },
    );
  } else if (req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok\n');
  } else {
    res.writeHead(404);
    res.end();
  }
});
// In a pod the probes reach it on the pod IP; a local run sets METRICS_HOST=127.0.0.1.
server.listen(env.int('METRICS_PORT', 9090, { max: 65535 }), env.string('METRICS_HOST', '0.0.0.0'), () =>
  log.info('metrics listening', { address: server.address() }),
);

leader.run(
  () => {
    engine.start().then(
      () => log.info('engine started', { namespace, identity }),
      (err: unknown) => {
        log.error('engine failed to start', { error: (err as Error).message });
        process.exit(1);
      },
    );
  },
  () => {
    // Another replica may act now; stop at once rather than race it. The Deployment restarts this one as a follower.
    process.exit(1);
  },
);

let shuttingDown = false;
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info('shutting down', { signal });
    void (async () => {
      // Stop acting first: the lease is released only once no reconcile can still write, so the replica that takes
      // it over at once never works beside this one. Reconciles are bounded by the request timeout.
      const stopped = await engine.stop().then(
        () => true,
        (err: unknown) => {
          log.error('engine did not stop cleanly; leaving the lease to expire', { error: errorText(err) });
          return false;
        },
      );
      if (stopped) await leader.release();
      server.close();
      process.exit(0);
    })();
  });
}
