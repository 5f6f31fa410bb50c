import { randomUUID } from 'node:crypto';
import type { CoreV1Api, V1ConfigMap, V1OwnerReference } from '@kubernetes/client-node';

/** An error shaped like client-node's ApiException, as lib/kube/errors.ts reads it. */
export function apiError(code: number, message = `status ${code}`): Error {
  return Object.assign(new Error(message), { code, body: JSON.stringify({ code, message }), headers: {} });
}

type JsonPatchOp = { op: 'test' | 'add'; path: string; value: unknown };

/**
 * The ConfigMap calls of CoreV1Api over a map, with the API server's semantics that order claims rely on: create is
 * create-only (409), every object gets its own uid and a growing resourceVersion, delete honours uid and
 * resourceVersion preconditions (409), a replace carrying another resourceVersion than the stored one is refused
 * (409), a list honours equality label selectors, and a JSON patch's `test` op failing answers 422. One namespace.
 */
export class FakeConfigMaps {
  readonly objects = new Map<string, V1ConfigMap>();
  private revision = 0;
  /** Wall-clock time given to new objects' creationTimestamp. */
  now = (): Date => new Date();
  /** Called before each call; throw from it to fail a call. */
  before: (call: string, name: string) => void = () => {};

  asCore(): CoreV1Api {
    return this as unknown as CoreV1Api;
  }

  /** Stores `cm` as if created, with a fresh uid. */
  put(cm: V1ConfigMap): V1ConfigMap {
    const name = cm.metadata!.name!;
    const stored: V1ConfigMap = structuredClone({
      ...cm,
      metadata: {
        ...cm.metadata,
        uid: randomUUID(),
        resourceVersion: String(++this.revision),
        creationTimestamp: this.now(),
      },
    });
    this.objects.set(name, stored);
    return structuredClone(stored);
  }

  async createNamespacedConfigMap(req: { body: V1ConfigMap }): Promise<V1ConfigMap> {
    const name = req.body.metadata!.name!;
    this.before('create', name);
    if (this.objects.has(name)) throw apiError(409, 'already exists');
    return this.put(req.body);
  }

  async readNamespacedConfigMap(req: { name: string }): Promise<V1ConfigMap> {
    this.before('read', req.name);
    const cm = this.objects.get(req.name);
    if (!cm) throw apiError(404, 'not found');
    return structuredClone(cm);
  }

  async replaceNamespacedConfigMap(req: { name: string; body: V1ConfigMap }): Promise<V1ConfigMap> {
    this.before('replace', req.name);
    const cm = this.objects.get(req.name);
    if (!cm) throw apiError(404, 'not found');
    const version = req.body.metadata?.resourceVersion;
    if (version !== undefined && version !== cm.metadata!.resourceVersion) throw apiError(409, 'conflict');
    const stored: V1ConfigMap = structuredClone({
      ...req.body,
      metadata: { ...req.body.metadata, uid: cm.metadata!.uid, resourceVersion: String(++this.revision) },
    });
    this.objects.set(req.name, stored);
    return structuredClone(stored);
  }

  async listNamespacedConfigMap(req: { labelSelector?: string }): Promise<{ items: V1ConfigMap[] }> {
    this.before('list', '');
    const wanted = (req.labelSelector ?? '')
      .split(',')
      .filter((p) => p !== '')
      .map((p) => p.split('=') as [string, string]);
    const items = [...this.objects.values()].filter((cm) => wanted.every(([k, v]) => cm.metadata?.labels?.[k] === v));
    return { items: structuredClone(items) };
  }

  async deleteNamespacedConfigMap(req: {
    name: string;
    body?: { preconditions?: { uid?: string; resourceVersion?: string } };
  }): Promise<unknown> {
    this.before('delete', req.name);
    const cm = this.objects.get(req.name);
    if (!cm) throw apiError(404, 'not found');
    const pre = req.body?.preconditions ?? {};
    if (pre.uid !== undefined && pre.uid !== cm.metadata!.uid) throw apiError(409, 'uid precondition failed');
    if (pre.resourceVersion !== undefined && pre.resourceVersion !== cm.metadata!.resourceVersion) {
      throw apiError(409, 'resourceVersion precondition failed');
    }
    this.objects.delete(req.name);
    return {};
  }

  async patchNamespacedConfigMap(req: { name: string; body: JsonPatchOp[] }): Promise<V1ConfigMap> {
    this.before('patch', req.name);
    const cm = this.objects.get(req.name);
    if (!cm) throw apiError(404, 'not found');
    for (const op of req.body) {
      if (op.op === 'test' && op.path === '/metadata/uid') {
        if (cm.metadata!.uid !== op.value) throw apiError(422, 'test failed');
      } else if (op.op === 'add' && op.path === '/metadata/ownerReferences') {
        cm.metadata!.ownerReferences = structuredClone(op.value as V1OwnerReference[]);
      } else {
        throw new Error(`FakeConfigMaps cannot apply ${JSON.stringify(op)}`);
      }
    }
    cm.metadata!.resourceVersion = String(++this.revision);
    return structuredClone(cm);
  }
}
