import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { PlatformEnv } from '../../devcluster/platform-env.ts';
import { reachableBase, type ReachableBase } from './reachable-base.ts';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  PatchStrategy,
  Watch,
  setHeaderOptions,
  type CoreV1Api,
  type KubeConfig,
  type KubernetesObject,
  type V1Pod,
} from '@kubernetes/client-node';
import {
  STATUS_KEY,
  buildJobConfigMap,
  readJobConfigMap,
  stopRequestPatch,
  type JobConfigMap,
} from '../../lib/job/configmap.ts';
import { LABELS, MANAGED_BY, jobNames } from '../../lib/job/names.ts';
import { buildJobSecret } from '../../lib/job/secret.ts';
import { initialStatus, isFinal } from '../../lib/job/status.ts';
import { waitFor } from '../../devcluster/processes.ts';
import type { BuiltJob } from './job-fixtures.ts';

/** Jobs on the platform (built by job-fixtures.ts's buildJob), and what engine tests and benchmarks watch them with. */

/** Creates the job's ConfigMap and then its Secret, owned by the ConfigMap (what `start` does). */
export async function createJob(core: CoreV1Api, namespace: string, job: BuiltJob): Promise<JobConfigMap> {
  const cm = readJobConfigMap(
    await core.createNamespacedConfigMap({
      namespace,
      body: buildJobConfigMap(job.workflow, initialStatus(new Date()), namespace),
    }),
  );
  await core.createNamespacedSecret({ namespace, body: buildJobSecret(job.workflow, job.secret, cm, namespace) });
  return cm;
}

export async function readJob(core: CoreV1Api, namespace: string, jobId: string): Promise<JobConfigMap> {
  return readJobConfigMap(await core.readNamespacedConfigMap({ name: jobNames(jobId).configMap, namespace }));
}

/** Sets the stop mark the way `stop` does. */
export async function requestStop(core: CoreV1Api, namespace: string, jobId: string): Promise<void> {
  await core.patchNamespacedConfigMap(
    { name: jobNames(jobId).configMap, namespace, body: stopRequestPatch(new Date()) },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

export async function waitForJob(
  core: CoreV1Api,
  namespace: string,
  jobId: string,
  until: (job: JobConfigMap) => boolean,
  timeoutMs = 90_000,
): Promise<JobConfigMap> {
  let job: JobConfigMap | undefined;
  await waitFor(
    () => `job ${jobId} to reach the expected state (last status: ${job?.status.code ?? 'none read'})`,
    async () => {
      job = await readJob(core, namespace, jobId);
      return until(job);
    },
    timeoutMs,
    200,
  );
  return job!;
}

export const waitForFinal = (
  core: CoreV1Api,
  namespace: string,
  jobId: string,
  timeoutMs?: number,
): Promise<JobConfigMap> => waitForJob(core, namespace, jobId, (j) => isFinal(j.status.code), timeoutMs);

export async function readObject(s3: S3Client, bucket: string, key: string): Promise<string> {
  const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return res.Body!.transformToString();
}

// ---- a file server for the configure pods ----

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** An HTTP server on 127.0.0.1 serving dataset and algorithm files; it counts the requests per path. */
export class FileServer {
  private readonly server: Server;
  private readonly routes = new Map<string, Handler>();
  private readonly sockets = new Set<Socket>();
  readonly hits = new Map<string, number>();
  port = 0;
  private reachable: ReachableBase = { base: '', stop: async () => undefined };

  constructor() {
    this.server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      this.hits.set(path, (this.hits.get(path) ?? 0) + 1);
      const route = this.routes.get(path);
      if (route) return route(req, res);
      res.writeHead(404).end('not found');
    });
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  /** Listens on 127.0.0.1; with `env`, reachable from the platform's job pods too (reachable-base.ts). */
  async start(env?: PlatformEnv): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as { port: number }).port;
    this.reachable = await reachableBase(env, this.port);
    return this;
  }

  url(path: string): string {
    return `${this.reachable.base}${path}`;
  }

  /** Serves fixed content at `path`; returns its URL. */
  file(path: string, body: string | Buffer): string {
    this.routes.set(path, (_req, res) =>
      res
        .writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': Buffer.byteLength(body) })
        .end(body),
    );
    return this.url(path);
  }

  /** Answers headers at once but never sends the body (until the server closes): a download that hangs. */
  hanging(path: string): string {
    this.routes.set(path, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write('x');
    });
    return this.url(path);
  }

  hitCount(path: string): number {
    return this.hits.get(path) ?? 0;
  }

  async close(): Promise<void> {
    await this.reachable.stop();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

// ---- watching the engine's pods ----

export interface ObjectEvent {
  /** performance.now() when the event arrived. */
  t: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  name: string;
  uid: string;
  jobId: string | undefined;
  role: string | undefined;
  phase: string | undefined;
  deleting: boolean;
  /** For a job ConfigMap: its status code. */
  statusCode?: number;
}

/** A watch on job objects (pods, ConfigMaps or Secrets) of a namespace that keeps every event with its arrival time. */
export class JobObjectWatch {
  readonly events: ObjectEvent[] = [];
  private abort: AbortController | undefined;
  private stopped = false;
  private resourceVersion: string | undefined;
  private listeners: Array<(e: ObjectEvent) => void> = [];

  constructor(
    private readonly kc: KubeConfig,
    private readonly namespace: string,
    private readonly resource: 'pods' | 'configmaps' | 'secrets',
  ) {}

  async start(): Promise<void> {
    const ready = new Promise<void>((resolve, reject) => {
      void this.connect(resolve, reject);
    });
    await ready;
  }

  onEvent(fn: (e: ObjectEvent) => void): () => void {
    this.listeners.push(fn);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== fn);
    };
  }

  private async connect(ready?: () => void, failed?: (err: unknown) => void): Promise<void> {
    const query: Record<string, string | boolean> = {
      labelSelector: `${LABELS.managedBy}=${MANAGED_BY},${LABELS.jobId}`,
      allowWatchBookmarks: true,
    };
    if (this.resourceVersion) query.resourceVersion = this.resourceVersion;
    try {
      this.abort = await new Watch(this.kc).watch(
        `/api/v1/namespaces/${this.namespace}/${this.resource}`,
        query,
        (type: string, obj: KubernetesObject & { status?: V1Pod['status']; data?: Record<string, string> }) => {
          // An ERROR (410 Gone: the version is too old) means starting over from a fresh list.
          if (type === 'ERROR') this.resourceVersion = undefined;
          else if (obj.metadata?.resourceVersion) this.resourceVersion = obj.metadata.resourceVersion;
          if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED') return;
          const labels = obj.metadata?.labels ?? {};
          const e: ObjectEvent = {
            t: performance.now(),
            type,
            name: obj.metadata?.name ?? '',
            uid: obj.metadata?.uid ?? '',
            jobId: labels[LABELS.jobId],
            role: labels[LABELS.role],
            phase: obj.status?.phase,
            deleting: Boolean(obj.metadata?.deletionTimestamp),
          };
          const status = obj.data?.[STATUS_KEY];
          if (status) e.statusCode = (JSON.parse(status) as { code: number }).code;
          this.events.push(e);
          for (const l of this.listeners) l(e);
        },
        () => {
          if (!this.stopped) setTimeout(() => void this.connect(), 100);
        },
      );
      ready?.();
    } catch (err) {
      if (failed) failed(err);
      else if (!this.stopped) setTimeout(() => void this.connect(), 500);
    }
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }

  forJobs(jobIds: Iterable<string>): ObjectEvent[] {
    const set = new Set(jobIds);
    return this.events.filter((e) => e.jobId !== undefined && set.has(e.jobId));
  }
}

/** Whether a pod seen in this state may still run a process: not finished, not being deleted. */
export const podActive = (e: Pick<ObjectEvent, 'type' | 'phase' | 'deleting'>): boolean =>
  e.type !== 'DELETED' && !e.deleting && e.phase !== 'Succeeded' && e.phase !== 'Failed';

/** The highest number of pods (optionally of one role) that were active at once, replaying watch events in order. */
export function maxActivePods(events: ObjectEvent[], role?: string): number {
  const active = new Set<string>();
  let max = 0;
  for (const e of events) {
    if (role && e.role !== role) continue;
    if (podActive(e)) active.add(e.uid);
    else active.delete(e.uid);
    max = Math.max(max, active.size);
  }
  return max;
}
