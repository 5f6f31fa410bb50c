import type { CoreV1Api, V1ConfigMap } from '@kubernetes/client-node';
import { conflict, forbidden, notFound } from '../http/errors.ts';
import type { Logger } from '../http/log.ts';
import {
  buildJobConfigMap,
  createdJob,
  InvalidJobConfigMap,
  readJobConfigMap,
  stopRequestPatch,
  type JobConfigMap,
} from '../job/configmap.ts';
import { buildJobSecret, buildOutputSecret } from '../job/secret.ts';
import { isFinal, type JobStatus } from '../job/status.ts';
import type { JobSecretData, Workflow } from '../job/workflow.ts';
import { jobNames, jobSelector } from '../job/names.ts';
import { kubeStatus } from '../kube/errors.ts';
import type { JobCache } from './job-cache.ts';

const STOP_ATTEMPTS = 5;

/**
 * The functions' view of jobs in the jobs namespace. Every lookup goes through a job id or owner that already passed
 * the request schema, and `jobNames`/`jobSelector` check them again before they become a name or selector.
 *
 * With a `cache` (a watch of the job ConfigMaps, see JobCache), reads are answered from it once it has synced: a job
 * is then as fresh as the watch (milliseconds behind the API server). A job the cache does not hold is still read
 * from the API, so a job that `start` has just created is found even before its watch event arrives.
 */
export class JobStore {
  constructor(
    private readonly core: CoreV1Api,
    readonly namespace: string,
    private readonly logger: Logger,
    private readonly cache?: JobCache,
  ) {}

  /**
   * Creates a job from a parsed workflow: its ConfigMap (with `extraData` beside the workflow and status, e.g. a
   * paid job's payment record), then its Secrets owned by it (the output Secret when the job has an encrypted output
   * target). If a Secret cannot be created the ConfigMap is removed again, so a failed start leaves no job behind.
   */
  async create(
    workflow: Workflow,
    status: JobStatus,
    secret: JobSecretData,
    extraData: Record<string, string> = {},
    outputCiphertext?: string,
  ): Promise<JobConfigMap> {
    const body = buildJobConfigMap(workflow, status, this.namespace);
    body.data = { ...extraData, ...body.data };
    const job = createdJob(
      await this.core.createNamespacedConfigMap({ namespace: this.namespace, body }),
      workflow,
      status,
    );
    try {
      // Before the job's Secret, which the engine waits for: a job that starts has its output Secret already.
      if (outputCiphertext !== undefined)
        await this.core.createNamespacedSecret({
          namespace: this.namespace,
          body: buildOutputSecret(workflow, outputCiphertext, job, this.namespace),
        });
      await this.core.createNamespacedSecret({
        namespace: this.namespace,
        body: buildJobSecret(workflow, secret, job, this.namespace),
      });
    } catch (err) {
      await this.delete(job).catch((cleanup: unknown) =>
        this.logger.error('could not remove the ConfigMap of a job whose Secret failed', {
          name: job.name,
          error: cleanup,
        }),
      );
      throw err;
    }
    return job;
  }

  /** The job, or 404. */
  async get(jobId: string): Promise<JobConfigMap> {
    const name = jobNames(jobId).configMap;
    void this.cache?.start();
    const cached = this.cache?.job(name);
    if (cached) return cached;
    let cm: V1ConfigMap;
    try {
      cm = await this.core.readNamespacedConfigMap({ name, namespace: this.namespace });
    } catch (err) {
      if (kubeStatus(err) === 404) throw notFound('job');
      throw err;
    }
    return readJobConfigMap(cm);
  }

  /** The job if `owner` owns it: 404 when there is no such job, 403 when it is someone else's. */
  async getOwned(jobId: string, owner: string): Promise<JobConfigMap> {
    const job = await this.get(jobId);
    if (job.workflow.owner !== owner.toLowerCase()) throw forbidden('the job belongs to another address');
    return job;
  }

  /**
   * The job if `address` may read it: its owner or one of the viewers the owner named (v2's additionalViewers).
   * 404 when there is no such job, 403 when it is someone else's.
   */
  async getViewable(jobId: string, address: string): Promise<JobConfigMap> {
    const job = await this.get(jobId);
    const a = address.toLowerCase();
    if (job.workflow.owner !== a && !(job.workflow.viewers ?? []).includes(a)) {
      throw forbidden('the job belongs to another address, which did not name this one a viewer');
    }
    return job;
  }

  /** Every job of `owner`, oldest first. A ConfigMap that does not hold a valid job is logged and left out. */
  async listOwned(owner: string): Promise<JobConfigMap[]> {
    const selector = jobSelector('workflow', { owner: owner.toLowerCase() });
    void this.cache?.start();
    const jobs =
      this.cache?.ownedBy(owner.toLowerCase()) ??
      this.readAll(
        (await this.core.listNamespacedConfigMap({ namespace: this.namespace, labelSelector: selector })).items,
      );
    return jobs.sort((a, b) => a.workflow.dateCreated.localeCompare(b.workflow.dateCreated));
  }

  /** The unfinished jobs of an environment, read from the API (the free tier's admission counts them). */
  async listUnfinished(environment: string): Promise<JobConfigMap[]> {
    const selector = jobSelector('workflow', { environment });
    const items = (await this.core.listNamespacedConfigMap({ namespace: this.namespace, labelSelector: selector }))
      .items;
    return this.readAll(items).filter((job) => !isFinal(job.status.code));
  }

  private readAll(items: readonly V1ConfigMap[]): JobConfigMap[] {
    const jobs: JobConfigMap[] = [];
    for (const cm of items) {
      try {
        jobs.push(readJobConfigMap(cm));
      } catch (err) {
        if (!(err instanceof InvalidJobConfigMap)) throw err;
        this.logger.warn('skipping invalid job ConfigMap', { name: cm.metadata?.name, error: err });
      }
    }
    return jobs;
  }

  /**
   * Deletes the job's ConfigMap; Kubernetes garbage-collects what it owns (pods, volume, Secret). Guarded by the uid
   * so a job re-created under the same name is never hit. A job already gone is fine.
   */
  async delete(job: JobConfigMap): Promise<void> {
    try {
      await this.core.deleteNamespacedConfigMap({
        name: job.name,
        namespace: this.namespace,
        body: { propagationPolicy: 'Background', ...(job.uid !== undefined && { preconditions: { uid: job.uid } }) },
      });
    } catch (err) {
      const code = kubeStatus(err);
      if (code === 404) return;
      if (code === 409) throw conflict('the job changed while being deleted, retry');
      throw err;
    }
  }

  /**
   * Sets the stop mark the engine acts on, once: the patch is guarded by the resourceVersion it saw, and after a
   * conflict the job is read again, so a mark already set (or a job that finished meanwhile) is left as it is.
   * Returns the job as it is afterwards.
   */
  async requestStop(job: JobConfigMap, now: Date): Promise<JobConfigMap> {
    // The client library is loaded by the time a job is stopped (it was read first): importing it again is free.
    const { PatchStrategy, setHeaderOptions } = await import('../kube/api.ts');
    let current = job;
    for (let attempt = 0; attempt < STOP_ATTEMPTS; attempt++) {
      if (isFinal(current.status.code) || current.stopRequestedAt !== undefined) return current;
      try {
        const cm = await this.core.patchNamespacedConfigMap(
          { name: current.name, namespace: this.namespace, body: stopRequestPatch(now, current.resourceVersion) },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
        return readJobConfigMap(cm);
      } catch (err) {
        if (kubeStatus(err) !== 409) throw err;
      }
      current = readJobConfigMap(
        await this.core.readNamespacedConfigMap({ name: current.name, namespace: this.namespace }),
      );
    }
    throw conflict('the job kept changing while being stopped, retry');
  }
}
