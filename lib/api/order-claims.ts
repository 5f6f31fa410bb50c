import { createHash } from 'node:crypto';
import type { CoreV1Api, V1ConfigMap } from '@kubernetes/client-node';
import { conflict } from '../http/errors.ts';
import { ownerReferenceTo, readJobConfigMap, type JobConfigMap } from '../job/configmap.ts';
import { isJobId, jobNames } from '../job/names.ts';
import { isFinal } from '../job/status.ts';
import { kubeStatus } from '../kube/errors.ts';

/**
 * One order may back only one unfinished job. Each order a job uses is claimed by a small ConfigMap named after the
 * hash of (chain, transaction): creating it is atomic, so two replicas starting jobs with the same order cannot both
 * win. A claim whose job has finished or no longer exists is taken over by compare-and-swap on its resourceVersion.
 * Once the job exists the claim is owned by its ConfigMap and disappears with it.
 */
export const CLAIM_LABELS = {
  'app.kubernetes.io/part-of': 'c2d',
  'app.kubernetes.io/component': 'order-claim',
} as const;

export function claimName(chainId: number, txId: string): string {
  const digest = createHash('sha256').update(`${chainId}:${txId.toLowerCase()}`).digest('hex');
  return `c2d-order-${digest}`;
}

export interface Claim {
  name: string;
  uid: string | undefined;
}

export class OrderClaims {
  constructor(
    private readonly core: CoreV1Api,
    private readonly namespace: string,
  ) {}

  private async read(name: string): Promise<V1ConfigMap | undefined> {
    try {
      return await this.core.readNamespacedConfigMap({ name, namespace: this.namespace });
    } catch (err) {
      if (kubeStatus(err) === 404) return undefined;
      throw err;
    }
  }

  /** The job a claim points at, when it still exists and has not finished. */
  private async holder(claim: V1ConfigMap): Promise<JobConfigMap | undefined> {
    const jobId = claim.data?.jobId;
    if (!isJobId(jobId)) return undefined;
    try {
      const job = readJobConfigMap(
        await this.core.readNamespacedConfigMap({ name: jobNames(jobId).configMap, namespace: this.namespace }),
      );
      return isFinal(job.status.code) ? undefined : job;
    } catch (err) {
      if (kubeStatus(err) === 404) return undefined;
      throw err;
    }
  }

  private async claimOne(chainId: number, txId: string, jobId: string): Promise<Claim> {
    const name = claimName(chainId, txId);
    const data = { chainId: String(chainId), txId: txId.toLowerCase(), jobId };
    try {
      const created = await this.core.createNamespacedConfigMap({
        namespace: this.namespace,
        body: { metadata: { name, labels: { ...CLAIM_LABELS } }, data },
      });
      return { name, uid: created.metadata?.uid };
    } catch (err) {
      if (kubeStatus(err) !== 409) throw err;
    }
    const existing = await this.read(name);
    if (existing) {
      const running = await this.holder(existing);
      if (running) throw conflict(`order ${txId} already backs job ${running.workflow.jobId}, which has not finished`);
      try {
        const replaced = await this.core.replaceNamespacedConfigMap({
          name,
          namespace: this.namespace,
          body: { metadata: { ...existing.metadata, ownerReferences: [] }, data },
        });
        return { name, uid: replaced.metadata?.uid };
      } catch (err) {
        if (kubeStatus(err) !== 409) throw err;
      }
    }
    throw conflict(`order ${txId} is being used by another request`);
  }

  /** Claims every order for `jobId`, or none: on a conflict the claims taken so far are released. */
  async claimAll(chainId: number, txIds: readonly string[], jobId: string): Promise<Claim[]> {
    const claims: Claim[] = [];
    try {
      for (const txId of new Set(txIds.map((t) => t.toLowerCase()))) claims.push(await this.claimOne(chainId, txId, jobId));
      return claims;
    } catch (err) {
      await this.release(claims);
      throw err;
    }
  }

  /** Makes the claims belong to the job's ConfigMap, so they go when the job goes. */
  async attach(claims: readonly Claim[], job: Pick<JobConfigMap, 'name' | 'uid'>): Promise<void> {
    const owner = { ...ownerReferenceTo(job), controller: false };
    for (const claim of claims) {
      await this.core.patchNamespacedConfigMap(
        {
          name: claim.name,
          namespace: this.namespace,
          body: [
            {
              op: 'add',
              path: '/metadata/ownerReferences',
              value: [owner],
            },
          ],
        },
      );
    }
  }

  async release(claims: readonly Claim[]): Promise<void> {
    for (const claim of claims) {
      try {
        await this.core.deleteNamespacedConfigMap({
          name: claim.name,
          namespace: this.namespace,
          ...(claim.uid !== undefined && { body: { preconditions: { uid: claim.uid } } }),
        });
      } catch (err) {
        if (kubeStatus(err) !== 404 && kubeStatus(err) !== 409) throw err;
      }
    }
  }
}
