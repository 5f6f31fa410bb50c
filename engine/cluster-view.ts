import {
  ListWatch,
  type CoreV1Api,
  type KubernetesObject,
  type V1ConfigMap,
  type V1PersistentVolumeClaim,
  type V1Pod,
  type V1Secret,
  type Watch,
} from '@kubernetes/client-node';
import type { Logger } from '../lib/http/log.ts';
import {
  ENVIRONMENTS_CONFIGMAP,
  environmentsFromConfigMap,
  findEnvironment,
  type Environment,
} from '../lib/job/environments.ts';
import { watchRestartDelayMs } from '../lib/kube/watch-restart.ts';
import { ALL_JOB_OBJECTS_SELECTOR, LABELS, jobIdFromName, jobSelector } from '../lib/job/names.ts';
import { JobIndex, roomMadeIn, type IndexChange } from './job-index.ts';

/** The calls the view makes: a list per kind of object, and watches (client-node's Watch in production). */
export interface ClusterViewApi {
  core: Pick<
    CoreV1Api,
    'listNamespacedConfigMap' | 'listNamespacedPod' | 'listNamespacedPersistentVolumeClaim' | 'listNamespacedSecret'
  >;
  watch: Pick<Watch, 'watch'>;
}

/**
 * The engine's view of the cluster: informers (list + watch) on the job ConfigMaps, the job pods, volumes and
 * Secrets, and the environments ConfigMap, and the job index the ConfigMaps feed (engine/job-index.ts). Every change
 * to a job's objects calls `onJob(jobId)`; a ConfigMap change that makes room in its environment's queue also calls it
 * for the jobs at the head of that queue, as many as the environment has free slots. An informer whose watch fails
 * is restarted with backoff (one that ends normally re-watches by itself).
 */
export interface ClusterViewOptions {
  namespace: string;
  environmentsNamespace: string;
  onJob: (jobId: string) => void;
  onEnvironments: () => void;
  log: Logger;
}

type AnyInformer = ListWatch<KubernetesObject>;

export class ClusterView {
  readonly jobs = new JobIndex();
  readonly pods: ListWatch<V1Pod>;
  readonly pvcs: ListWatch<V1PersistentVolumeClaim>;
  readonly secrets: ListWatch<V1Secret>;
  private readonly configMaps: ListWatch<V1ConfigMap>;
  private readonly environmentsInformer: ListWatch<V1ConfigMap>;
  private environmentsList: Environment[] = [];
  private stopped = false;

  constructor(
    api: ClusterViewApi,
    private readonly opts: ClusterViewOptions,
  ) {
    const { core } = api;
    // ListWatch declares client-node's Watch class but only ever calls its watch().
    const watch = api.watch as Watch;
    const ns = opts.namespace;
    const byJob = ALL_JOB_OBJECTS_SELECTOR;
    this.configMaps = new ListWatch(
      `/api/v1/namespaces/${ns}/configmaps`,
      watch,
      () => core.listNamespacedConfigMap({ namespace: ns, labelSelector: jobSelector('workflow') }),
      false,
      jobSelector('workflow'),
    );
    this.pods = new ListWatch(
      `/api/v1/namespaces/${ns}/pods`,
      watch,
      () => core.listNamespacedPod({ namespace: ns, labelSelector: byJob }),
      false,
      byJob,
    );
    this.pvcs = new ListWatch(
      `/api/v1/namespaces/${ns}/persistentvolumeclaims`,
      watch,
      () => core.listNamespacedPersistentVolumeClaim({ namespace: ns, labelSelector: jobSelector('data') }),
      false,
      jobSelector('data'),
    );
    this.secrets = new ListWatch(
      `/api/v1/namespaces/${ns}/secrets`,
      watch,
      () => core.listNamespacedSecret({ namespace: ns, labelSelector: jobSelector('secret') }),
      false,
      jobSelector('secret'),
    );
    const envNs = opts.environmentsNamespace;
    const envField = `metadata.name=${ENVIRONMENTS_CONFIGMAP}`;
    this.environmentsInformer = new ListWatch(
      `/api/v1/namespaces/${envNs}/configmaps`,
      watch,
      () => core.listNamespacedConfigMap({ namespace: envNs, fieldSelector: envField }),
      false,
      undefined,
      envField,
    );

    const jobOf = (obj: KubernetesObject): string | undefined => {
      const jobId = obj.metadata?.labels?.[LABELS.jobId] ?? jobIdFromName(obj.metadata?.name ?? '');
      return jobId && jobIdFromName(obj.metadata?.name ?? '') === jobId ? jobId : undefined;
    };
    // The index first: a reconcile may start synchronously from onJob and must see the change.
    const configMapChanged = (change: IndexChange | undefined, jobId: string): void => {
      opts.onJob(jobId);
      for (const queued of this.roomMade(change)) opts.onJob(queued);
    };
    this.configMaps.on('add', (cm) => {
      const jobId = jobOf(cm);
      if (jobId) configMapChanged(this.jobs.observe(cm), jobId);
    });
    this.configMaps.on('update', (cm) => {
      const jobId = jobOf(cm);
      if (jobId) configMapChanged(this.jobs.observe(cm), jobId);
    });
    this.configMaps.on('delete', (cm) => {
      const jobId = jobOf(cm);
      if (jobId) configMapChanged(this.jobs.remove(jobId), jobId);
    });
    for (const informer of [this.pods, this.pvcs, this.secrets] as AnyInformer[]) {
      const notify = (obj: KubernetesObject): void => {
        const jobId = jobOf(obj);
        if (jobId) opts.onJob(jobId);
      };
      informer.on('add', notify);
      informer.on('update', notify);
      informer.on('delete', notify);
    }
    const envChanged = (): void => {
      this.loadEnvironments();
      opts.onEnvironments();
    };
    this.environmentsInformer.on('add', envChanged);
    this.environmentsInformer.on('update', envChanged);
    this.environmentsInformer.on('delete', envChanged);
    const all: Array<[string, AnyInformer]> = [
      ['configmaps', this.configMaps as AnyInformer],
      ['pods', this.pods as AnyInformer],
      ['pvcs', this.pvcs as AnyInformer],
      ['secrets', this.secrets as AnyInformer],
      ['environments', this.environmentsInformer as AnyInformer],
    ];
    for (const [name, informer] of all) this.restartOnError(name, informer);
  }

  /**
   * The queued jobs that a change to the job index lets leave the queue: the head of the environment it made room
   * in, as many as that environment has free slots (none while the environment is unknown: nothing leaves then).
   */
  roomMade(change: IndexChange | undefined): string[] {
    const environment = roomMadeIn(change);
    if (environment === undefined) return [];
    const env = findEnvironment(this.environmentsList, environment);
    if (!env) return [];
    return this.jobs.queueHead(environment, env.maxConcurrentJobs - this.jobs.activeIn(environment));
  }

  private restartOnError(name: string, informer: AnyInformer): void {
    let attempt = 0;
    informer.on('connect', () => {
      attempt = 0;
    });
    // A failed list or watch emits 'error'; a watch request that cannot be opened at all only rejects start(). Both
    // restart the watch, or the engine would stop seeing its jobs for good.
    const restart = (err: unknown): void => {
      if (this.stopped) return;
      attempt += 1;
      const delay = watchRestartDelayMs(attempt);
      this.opts.log.warn('watch failed; restarting', {
        informer: name,
        attempt,
        delayMs: delay,
        error: (err as Error)?.message ?? String(err),
      });
      setTimeout(() => {
        if (!this.stopped) informer.start().catch(restart);
      }, delay).unref();
    };
    informer.on('error', restart);
  }

  private loadEnvironments(): void {
    const cm = this.environmentsInformer.get(ENVIRONMENTS_CONFIGMAP, this.opts.environmentsNamespace);
    try {
      this.environmentsList = cm ? environmentsFromConfigMap(cm) : [];
    } catch (err) {
      this.opts.log.error('environments ConfigMap is invalid; keeping the previous list', {
        error: (err as Error).message,
      });
    }
  }

  environments(): readonly Environment[] {
    return this.environmentsList;
  }

  /** Lists everything, then watches; resolves once every informer has its first list. */
  async start(): Promise<void> {
    await this.environmentsInformer.start();
    this.loadEnvironments();
    await Promise.all([this.pods.start(), this.pvcs.start(), this.secrets.start()]);
    await this.configMaps.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(
      [this.configMaps, this.pods, this.pvcs, this.secrets, this.environmentsInformer].map((i) => i.stop()),
    );
  }
}
