import type { KubernetesObject, ListWatch, V1ConfigMap } from '@kubernetes/client-node';
import type { Logger } from '../http/log.ts';
import { InvalidJobConfigMap, readJobConfigMap, type JobConfigMap } from '../job/configmap.ts';
import { LABELS, jobSelector } from '../job/names.ts';
import type { Kube } from '../kube/lazy.ts';
import { watchRestartDelayMs } from '../kube/watch-restart.ts';

/** Longest wait between two attempts to restore a failed watch. */

/** The namespace holds more jobs than the cache may. */
class TooManyJobs extends Error {
  override name = 'TooManyJobs';
}

/**
 * The job ConfigMaps of the jobs namespace, held in memory by a list + watch (client-node's ListWatch), so that
 * reading a job costs no API call. Used by `status`, which is asked far more often than jobs change.
 *
 * Answers come only while the cache is synced: from the end of its first list (or of a re-list after a failed
 * watch) until the watch fails again. Before that, `job` and `ownedBy` answer `undefined` and the caller asks the API.
 * A job missing from a synced cache may still exist (created a moment ago, its ADDED event not arrived yet), so a
 * miss by name is never a 404 by itself: the caller reads the API then. A listing from the cache can lack a job
 * created within the last moments (the watch's delay, milliseconds) — the same freshness as Kubernetes' own
 * informers. A failed watch is restored with backoff: from the last resourceVersion seen, or by a new list when the
 * API server no longer has it (410 Gone).
 *
 * Memory is bounded by `maxJobs`: the first list asks for one job more than that, and a namespace holding more (then
 * or later, through the watch) turns the cache off for good, so that a function sized for a few thousand jobs is not
 * OOM-killed by a provider with many more; reads then all go to the API, as without a cache. ManagedFields are
 * dropped from what is held (nothing here reads them; about a fifth of a job ConfigMap).
 */
export class JobCache {
  #informer: ListWatch<V1ConfigMap> | undefined;
  #starting: Promise<void> | undefined;
  #synced = false;
  #stopped = false;
  #failures = 0;
  #tooMany = false;
  #timer: NodeJS.Timeout | undefined;
  /** Owner address → names of that owner's job ConfigMaps, and each name's owner, kept from the watch's events. */
  readonly #byOwner = new Map<string, Set<string>>();
  readonly #ownerOf = new Map<string, string>();
  /** Each ConfigMap version parsed once; a new version is a new object, so old entries go with their object. */
  readonly #parsed = new WeakMap<V1ConfigMap, JobConfigMap | null>();

  constructor(
    private readonly kube: () => Promise<Kube>,
    readonly namespace: string,
    private readonly logger: Logger,
    readonly maxJobs = 5000,
  ) {}

  get synced(): boolean {
    return this.#synced;
  }

  /** Starts listing and watching, once; later calls do nothing. Resolves when the first attempt has finished. */
  start(): Promise<void> {
    this.#starting ??= this.#begin().catch((err: unknown) => {
      // Could not even connect (e.g. the kubeconfig is unreadable): forget the attempt, the next call retries.
      this.#starting = undefined;
      this.logger.warn('job cache not started; reading jobs from the API', { error: err });
    });
    return this.#starting;
  }

  /** The job stored under ConfigMap `name`, when the cache is synced and holds it (and it is a valid job). */
  job(name: string): JobConfigMap | undefined {
    if (!this.#synced || !this.#informer) return undefined;
    const cm = this.#informer.get(name, this.namespace);
    return cm ? this.#read(cm) : undefined;
  }

  /** Every valid job of `owner` (lower-case address), or undefined when the cache is not synced. */
  ownedBy(owner: string): JobConfigMap[] | undefined {
    if (!this.#synced || !this.#informer) return undefined;
    const jobs: JobConfigMap[] = [];
    for (const name of this.#byOwner.get(owner) ?? []) {
      const cm = this.#informer.get(name, this.namespace);
      const job = cm && this.#read(cm);
      if (job) jobs.push(job);
    }
    return jobs;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#synced = false;
    clearTimeout(this.#timer);
    await this.#informer?.stop();
  }

  #read(cm: V1ConfigMap): JobConfigMap | undefined {
    let job = this.#parsed.get(cm);
    if (job === undefined) {
      try {
        job = readJobConfigMap(cm);
      } catch (err) {
        if (!(err instanceof InvalidJobConfigMap)) throw err;
        this.logger.warn('skipping invalid job ConfigMap', { name: cm.metadata?.name, error: err });
        job = null;
      }
      this.#parsed.set(cm, job);
    }
    return job ?? undefined;
  }

  #index(cm: KubernetesObject): void {
    // The object is the one the informer holds: what is deleted here is not kept.
    if (cm.metadata) delete cm.metadata.managedFields;
    const name = cm.metadata?.name;
    if (name === undefined) return;
    const owner = cm.metadata?.labels?.[LABELS.owner];
    const before = this.#ownerOf.get(name);
    if (before === owner) return;
    if (before !== undefined) this.#unindex(name, before);
    if (owner === undefined) return;
    this.#ownerOf.set(name, owner);
    let names = this.#byOwner.get(owner);
    if (!names) this.#byOwner.set(owner, (names = new Set()));
    names.add(name);
    if (this.#ownerOf.size > this.maxJobs) this.#giveUp();
  }

  /** Turns the cache off for good (see the class comment); reads go to the API from now on. */
  #giveUp(): void {
    if (this.#tooMany) return;
    this.#tooMany = true;
    this.#stopped = true;
    this.#synced = false;
    clearTimeout(this.#timer);
    this.logger.warn('more jobs than the status cache may hold; reading every job from the API', {
      maxJobs: this.maxJobs,
    });
    void this.#informer?.stop();
    this.#informer = undefined;
    this.#byOwner.clear();
    this.#ownerOf.clear();
  }

  #unindex(name: string, owner: string | undefined = this.#ownerOf.get(name)): void {
    this.#ownerOf.delete(name);
    if (owner === undefined) return;
    const names = this.#byOwner.get(owner);
    names?.delete(name);
    if (names?.size === 0) this.#byOwner.delete(owner);
  }

  async #begin(): Promise<void> {
    const { kc, core, k8s } = await this.kube();
    const selector = jobSelector('workflow');
    const informer = new k8s.ListWatch<V1ConfigMap>(
      `/api/v1/namespaces/${this.namespace}/configmaps`,
      new k8s.Watch(kc),
      async () => {
        const list = await core.listNamespacedConfigMap({
          namespace: this.namespace,
          labelSelector: selector,
          limit: this.maxJobs + 1,
        });
        if (list.metadata?._continue || list.items.length > this.maxJobs) throw new TooManyJobs();
        return list;
      },
      false,
      selector,
    );
    informer.on('add', (cm) => this.#index(cm));
    informer.on('update', (cm) => this.#index(cm));
    informer.on('delete', (cm) => {
      if (cm.metadata?.name !== undefined) this.#unindex(cm.metadata.name);
    });
    const restart = (err: unknown): void => {
      if (err instanceof TooManyJobs) {
        this.#giveUp();
        return;
      }
      this.#synced = false;
      this.#failures += 1;
      if (this.#stopped) return;
      const delayMs = watchRestartDelayMs(this.#failures);
      this.logger.warn('job watch failed; reading jobs from the API until it is restored', {
        attempt: this.#failures,
        delayMs,
        error: (err as Error | undefined)?.message ?? String(err),
      });
      clearTimeout(this.#timer);
      // A watch request that cannot be opened rejects start() without emitting 'error': restart from here too.
      this.#timer = setTimeout(() => void this.#connect().catch(restart), delayMs);
      this.#timer.unref();
    };
    informer.on('error', restart);
    this.#informer = informer;
    await this.#connect();
  }

  /** Lists (when there is no resourceVersion to resume from) and watches; synced if that went without an error. */
  async #connect(): Promise<void> {
    const informer = this.#informer;
    if (!informer || this.#stopped) return;
    const failuresBefore = this.#failures;
    await informer.start();
    if (this.#failures === failuresBefore && !this.#stopped) {
      this.#synced = true;
      this.#failures = 0;
    }
  }
}
