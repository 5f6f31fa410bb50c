import { randomUUID } from 'node:crypto';
import type {
  CoreV1Api,
  CoreV1Event,
  KubernetesObject,
  V1ConfigMap,
  V1Lease,
  V1PersistentVolumeClaim,
  V1Pod,
  V1PodStatus,
  V1Secret,
} from '@kubernetes/client-node';
import type { ClusterViewApi } from '../../engine/cluster-view.ts';
import type { LeaseApi } from '../../lib/kube/lease.ts';
import type { ReconcilerApi } from '../../engine/reconciler.ts';
import { apiError } from './fake-configmaps.ts';

/**
 * The Kubernetes API the engine uses (ReconcilerApi, ClusterViewApi, LeaseApi), in memory, with the API server's
 * semantics the engine relies on: every write gets a growing resourceVersion; create is create-only (409); a merge
 * patch or replace carrying a resourceVersion other than the stored one is refused (409); deleting an object deletes
 * the objects it owns (garbage collection, at once); lists answer with the revision they are at, and a watch from a
 * revision sends every later change of the objects its selectors match, or 410 Gone once `compact()` dropped it.
 * Watch events are delivered a macrotask after the change (the cache lags behind a write, as over the network);
 * `flush()` waits for them. Tests play the kubelet (`setPodStatus`) and break things (`failNext`, `failWatches`).
 */

type Resource = 'configmaps' | 'pods' | 'persistentvolumeclaims' | 'secrets' | 'events' | 'leases';
type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';
type WatchCallback = (phase: string, apiObj: unknown, watchObj?: unknown) => void;

interface Watcher {
  resource: Resource;
  namespace: string;
  matches: (obj: KubernetesObject) => boolean;
  callback: WatchCallback;
  done: (err: unknown) => void;
  open: boolean;
}

type ListApi = ClusterViewApi['core'];
type WatchApi = ClusterViewApi['watch'];
type Method =
  | keyof ReconcilerApi
  | keyof ListApi
  | keyof LeaseApi
  | 'createNamespacedConfigMap'
  | 'createNamespacedSecret'
  | 'readNamespacedConfigMap';

// The real one, even while a test fakes timers: deliveries must not wait for a test to advance its clock.
const realSetImmediate = globalThis.setImmediate;

const key = (namespace: string, name: string): string => `${namespace}/${name}`;
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

/** RFC 7386 JSON merge patch. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** A label selector of `k=v`, `k==v`, `k!=v`, `k` and `!k` terms, all of which must hold. */
function labelMatcher(selector: string | undefined): (obj: KubernetesObject) => boolean {
  const terms = (selector ?? '')
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean)
    .map((term) => {
      const ne = /^([^!=]+)!=(.*)$/.exec(term);
      if (ne) return (labels: Record<string, string>) => labels[ne[1]!] !== ne[2];
      const eq = /^([^!=]+)==?(.*)$/.exec(term);
      if (eq) return (labels: Record<string, string>) => labels[eq[1]!] === eq[2];
      if (term.startsWith('!')) return (labels: Record<string, string>) => !(term.slice(1) in labels);
      return (labels: Record<string, string>) => term in labels;
    });
  return (obj) => terms.every((t) => t(obj.metadata?.labels ?? {}));
}

/** A field selector of `metadata.name=` and `metadata.namespace=` terms. */
function fieldMatcher(selector: string | undefined): (obj: KubernetesObject) => boolean {
  const terms = (selector ?? '')
    .split(',')
    .filter(Boolean)
    .map((term) => {
      const [field, value] = term.split('=') as [string, string];
      if (field === 'metadata.name') return (obj: KubernetesObject) => obj.metadata?.name === value;
      if (field === 'metadata.namespace') return (obj: KubernetesObject) => obj.metadata?.namespace === value;
      throw new Error(`FakeKubeApi cannot select on ${field}`);
    });
  return (obj) => terms.every((t) => t(obj));
}

export class FakeKubeApi implements ReconcilerApi, ListApi, WatchApi, LeaseApi {
  /** Every call made, as `method name`, in order. */
  readonly calls: string[] = [];
  private readonly objects = new Map<Resource, Map<string, KubernetesObject>>();
  private readonly history: Array<{
    revision: number;
    resource: Resource;
    namespace: string;
    type: EventType;
    object: KubernetesObject;
  }> = [];
  private readonly watchers = new Set<Watcher>();
  private readonly failures = new Map<Method, Error[]>();
  private deliveries: Array<() => void> = [];
  private scheduled = false;
  private held = false;
  private revision = 0;
  private compacted = 0;

  // ---- test controls ----

  /** Makes the next call of `method` fail with `err` (several calls queue up). */
  failNext(method: Method, err: Error): void {
    this.failures.set(method, [...(this.failures.get(method) ?? []), err]);
  }

  /** Stores an object as if another client created it. */
  put<T extends KubernetesObject>(resource: Resource, obj: T): T {
    return this.create(resource, obj.metadata?.namespace ?? '', obj);
  }

  get<T extends KubernetesObject>(resource: Resource, namespace: string, name: string): T | undefined {
    const obj = this.objects.get(resource)?.get(key(namespace, name));
    return obj ? (structuredClone(obj) as T) : undefined;
  }

  list<T extends KubernetesObject>(resource: Resource, namespace: string): T[] {
    return [...(this.objects.get(resource)?.values() ?? [])]
      .filter((o) => o.metadata?.namespace === namespace)
      .map((o) => structuredClone(o) as T);
  }

  /** The kubelet's part: a pod's status changes. */
  setPodStatus(namespace: string, name: string, status: V1PodStatus): V1Pod {
    const pod = this.stored<V1Pod>('pods', namespace, name);
    return this.update('pods', namespace, { ...pod, status });
  }

  /** A pod that ran its container to the end with `exitCode`. */
  finishPod(namespace: string, name: string, exitCode: number, reason?: string): V1Pod {
    return this.setPodStatus(namespace, name, {
      phase: exitCode === 0 ? 'Succeeded' : 'Failed',
      containerStatuses: [
        {
          name: 'main',
          image: 'i',
          imageID: '',
          ready: false,
          restartCount: 0,
          state: { terminated: { exitCode, ...(reason ? { reason } : {}) } },
        },
      ],
    });
  }

  /** Deletes an object as another client would (a node controller, an operator), with what it owns. */
  remove(resource: Resource, namespace: string, name: string): void {
    this.delete(resource, namespace, name);
  }

  /** Another client's merge patch (a stop request, a competing writer). */
  patch<T extends KubernetesObject>(resource: Resource, namespace: string, name: string, patch: object): T {
    return this.applyPatch<T>(resource, namespace, name, patch);
  }

  /** Every open watch fails (the connection dropped); the watchers' `done` gets `err`. */
  failWatches(err: Error = new Error('watch connection reset')): void {
    for (const w of this.watchers) this.closeWatch(w, err);
  }

  /** Every open watch ends normally (the API server's watch timeout). */
  endWatches(): void {
    for (const w of this.watchers) this.closeWatch(w, null);
  }

  /** Forgets the history so far: a watch from an older revision is answered 410 Gone and must list again. */
  compact(): void {
    this.compacted = this.revision;
    this.history.length = 0;
  }

  /** Holds watch events back (the informers fall behind) until `release()`. */
  hold(): void {
    this.held = true;
  }

  release(): void {
    this.held = false;
    this.schedule();
  }

  /** Resolves once every watch event so far has been delivered (and whatever those deliveries caused). */
  async flush(): Promise<void> {
    for (let i = 0; i < 1000; i++) {
      await new Promise<void>((r) => realSetImmediate(r));
      if (this.deliveries.length === 0 || this.held) return;
    }
    throw new Error('FakeKubeApi.flush: watch deliveries did not settle after 1000 rounds');
  }

  get openWatches(): number {
    return this.watchers.size;
  }

  // ---- CoreV1Api ----

  async listNamespacedConfigMap(req: Parameters<CoreV1Api['listNamespacedConfigMap']>[0]) {
    this.enter('listNamespacedConfigMap', req.namespace);
    return {
      apiVersion: 'v1',
      kind: 'ConfigMapList',
      metadata: { resourceVersion: String(this.revision) },
      items: this.select<V1ConfigMap>('configmaps', req.namespace, req.labelSelector, req.fieldSelector),
    };
  }

  async listNamespacedPod(req: Parameters<CoreV1Api['listNamespacedPod']>[0]) {
    this.enter('listNamespacedPod', req.namespace);
    return {
      apiVersion: 'v1',
      kind: 'PodList',
      metadata: { resourceVersion: String(this.revision) },
      items: this.select<V1Pod>('pods', req.namespace, req.labelSelector, req.fieldSelector),
    };
  }

  async listNamespacedPersistentVolumeClaim(req: Parameters<CoreV1Api['listNamespacedPersistentVolumeClaim']>[0]) {
    this.enter('listNamespacedPersistentVolumeClaim', req.namespace);
    const items = this.select<V1PersistentVolumeClaim>(
      'persistentvolumeclaims',
      req.namespace,
      req.labelSelector,
      req.fieldSelector,
    );
    return {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaimList',
      metadata: { resourceVersion: String(this.revision) },
      items,
    };
  }

  async listNamespacedSecret(req: Parameters<CoreV1Api['listNamespacedSecret']>[0]) {
    this.enter('listNamespacedSecret', req.namespace);
    return {
      apiVersion: 'v1',
      kind: 'SecretList',
      metadata: { resourceVersion: String(this.revision) },
      items: this.select<V1Secret>('secrets', req.namespace, req.labelSelector, req.fieldSelector),
    };
  }

  async createNamespacedConfigMap(req: Parameters<CoreV1Api['createNamespacedConfigMap']>[0]): Promise<V1ConfigMap> {
    this.enter('createNamespacedConfigMap', req.body.metadata?.name);
    return this.create('configmaps', req.namespace, req.body);
  }

  async readNamespacedConfigMap(req: Parameters<CoreV1Api['readNamespacedConfigMap']>[0]): Promise<V1ConfigMap> {
    this.enter('readNamespacedConfigMap', req.name);
    return structuredClone(this.stored<V1ConfigMap>('configmaps', req.namespace, req.name));
  }

  async patchNamespacedConfigMap(req: Parameters<CoreV1Api['patchNamespacedConfigMap']>[0]): Promise<V1ConfigMap> {
    this.enter('patchNamespacedConfigMap', req.name);
    return this.applyPatch<V1ConfigMap>('configmaps', req.namespace, req.name, req.body);
  }

  async deleteNamespacedConfigMap(req: Parameters<CoreV1Api['deleteNamespacedConfigMap']>[0]) {
    this.enter('deleteNamespacedConfigMap', req.name);
    this.delete('configmaps', req.namespace, req.name);
    return { apiVersion: 'v1', kind: 'Status', status: 'Success' };
  }

  async createNamespacedPersistentVolumeClaim(
    req: Parameters<CoreV1Api['createNamespacedPersistentVolumeClaim']>[0],
  ): Promise<V1PersistentVolumeClaim> {
    this.enter('createNamespacedPersistentVolumeClaim', req.body.metadata?.name);
    return this.create('persistentvolumeclaims', req.namespace, req.body);
  }

  async deleteNamespacedPersistentVolumeClaim(
    req: Parameters<CoreV1Api['deleteNamespacedPersistentVolumeClaim']>[0],
  ): Promise<V1PersistentVolumeClaim> {
    this.enter('deleteNamespacedPersistentVolumeClaim', req.name);
    return this.delete('persistentvolumeclaims', req.namespace, req.name);
  }

  async createNamespacedPod(req: Parameters<CoreV1Api['createNamespacedPod']>[0]): Promise<V1Pod> {
    this.enter('createNamespacedPod', req.body.metadata?.name);
    return this.create('pods', req.namespace, { ...req.body, status: { phase: 'Pending' } });
  }

  async readNamespacedPod(req: Parameters<CoreV1Api['readNamespacedPod']>[0]): Promise<V1Pod> {
    this.enter('readNamespacedPod', req.name);
    return structuredClone(this.stored<V1Pod>('pods', req.namespace, req.name));
  }

  /** Deletes at once, as with a grace period of 0; a uid precondition that does not hold is refused (409). */
  async deleteNamespacedPod(req: Parameters<CoreV1Api['deleteNamespacedPod']>[0]): Promise<V1Pod> {
    this.enter('deleteNamespacedPod', req.name);
    const uid = req.body?.preconditions?.uid;
    if (uid && this.stored<V1Pod>('pods', req.namespace, req.name).metadata?.uid !== uid)
      throw apiError(409, `Precondition failed: UID in precondition: ${uid}`);
    return this.delete('pods', req.namespace, req.name);
  }

  async createNamespacedSecret(req: Parameters<CoreV1Api['createNamespacedSecret']>[0]): Promise<V1Secret> {
    this.enter('createNamespacedSecret', req.body.metadata?.name);
    return this.create('secrets', req.namespace, req.body);
  }

  async deleteNamespacedSecret(req: Parameters<CoreV1Api['deleteNamespacedSecret']>[0]) {
    this.enter('deleteNamespacedSecret', req.name);
    this.delete('secrets', req.namespace, req.name);
    return { apiVersion: 'v1', kind: 'Status', status: 'Success' };
  }

  async createNamespacedEvent(req: Parameters<CoreV1Api['createNamespacedEvent']>[0]): Promise<CoreV1Event> {
    this.enter('createNamespacedEvent', req.body.reason);
    return this.create('events', req.namespace, req.body);
  }

  // ---- CoordinationV1Api ----

  async readNamespacedLease(req: Parameters<LeaseApi['readNamespacedLease']>[0]): Promise<V1Lease> {
    this.enter('readNamespacedLease', req.name);
    return structuredClone(this.stored<V1Lease>('leases', req.namespace, req.name));
  }

  async createNamespacedLease(req: Parameters<LeaseApi['createNamespacedLease']>[0]): Promise<V1Lease> {
    this.enter('createNamespacedLease', req.body.metadata?.name);
    return this.create('leases', req.namespace, req.body);
  }

  async replaceNamespacedLease(req: Parameters<LeaseApi['replaceNamespacedLease']>[0]): Promise<V1Lease> {
    this.enter('replaceNamespacedLease', req.name);
    const current = this.stored<V1Lease>('leases', req.namespace, req.name);
    if (req.body.metadata?.resourceVersion !== current.metadata?.resourceVersion)
      throw apiError(409, 'the object has been modified');
    return this.update('leases', req.namespace, req.body);
  }

  // ---- Watch ----

  async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: WatchCallback,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/([a-z]+)$/.exec(path);
    if (!m) throw new Error(`FakeKubeApi cannot watch ${path}`);
    const resource = m[2] as Resource;
    const namespace = m[1]!;
    const labels = labelMatcher(queryParams.labelSelector as string | undefined);
    const fields = fieldMatcher(queryParams.fieldSelector as string | undefined);
    const watcher: Watcher = {
      resource,
      namespace,
      matches: (o) => labels(o) && fields(o),
      callback,
      done,
      open: true,
    };
    const controller = new AbortController();
    controller.signal.addEventListener('abort', () => {
      watcher.open = false;
      this.watchers.delete(watcher);
    });
    this.watchers.add(watcher);
    const from = Number(queryParams.resourceVersion ?? 0);
    if (from < this.compacted) {
      this.deliver(() => {
        if (!watcher.open) return;
        watcher.callback('ERROR', {
          kind: 'Status',
          apiVersion: 'v1',
          status: 'Failure',
          reason: 'Expired',
          code: 410,
          message: 'too old resource version',
        });
        this.closeWatch(watcher, null);
      });
    } else {
      for (const e of this.history) if (e.revision > from) this.send(watcher, e);
    }
    return controller;
  }

  // ---- the store ----

  private enter(method: Method, name: string | undefined): void {
    this.calls.push(`${method} ${name ?? ''}`.trim());
    const err = this.failures.get(method)?.shift();
    if (err) throw err;
  }

  private bucket(resource: Resource): Map<string, KubernetesObject> {
    let b = this.objects.get(resource);
    if (!b) this.objects.set(resource, (b = new Map()));
    return b;
  }

  private stored<T extends KubernetesObject>(resource: Resource, namespace: string, name: string): T {
    const obj = this.bucket(resource).get(key(namespace, name));
    if (!obj) throw apiError(404, `${resource} "${name}" not found`);
    return obj as T;
  }

  private select<T extends KubernetesObject>(
    resource: Resource,
    namespace: string,
    labelSelector?: string,
    fieldSelector?: string,
  ): T[] {
    const labels = labelMatcher(labelSelector);
    const fields = fieldMatcher(fieldSelector);
    return this.list<T>(resource, namespace).filter((o) => labels(o) && fields(o));
  }

  private create<T extends KubernetesObject>(resource: Resource, namespace: string, body: T): T {
    const name = body.metadata?.name;
    if (!name) throw apiError(422, 'metadata.name: Required value');
    if (this.bucket(resource).has(key(namespace, name))) throw apiError(409, `${resource} "${name}" already exists`);
    const obj = structuredClone({
      ...body,
      metadata: {
        ...body.metadata,
        namespace,
        uid: randomUUID(),
        resourceVersion: String(++this.revision),
        creationTimestamp: new Date(),
      },
    });
    this.bucket(resource).set(key(namespace, name), obj);
    this.record(resource, namespace, 'ADDED', obj);
    return structuredClone(obj);
  }

  private update<T extends KubernetesObject>(resource: Resource, namespace: string, body: T): T {
    const current = this.stored<T>(resource, namespace, body.metadata!.name!);
    const obj = structuredClone({
      ...body,
      metadata: { ...body.metadata, namespace, uid: current.metadata?.uid, resourceVersion: String(++this.revision) },
    });
    this.bucket(resource).set(key(namespace, obj.metadata.name!), obj);
    this.record(resource, namespace, 'MODIFIED', obj);
    return structuredClone(obj);
  }

  private applyPatch<T extends KubernetesObject>(
    resource: Resource,
    namespace: string,
    name: string,
    patch: object,
  ): T {
    const current = this.stored<T>(resource, namespace, name);
    const guard = (patch as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion;
    if (guard !== undefined && guard !== current.metadata?.resourceVersion)
      throw apiError(
        409,
        'the object has been modified; please apply your changes to the latest version and try again',
      );
    return this.update(resource, namespace, mergePatch(structuredClone(current), patch) as T);
  }

  private delete<T extends KubernetesObject>(resource: Resource, namespace: string, name: string): T {
    const obj = this.stored<T>(resource, namespace, name);
    this.bucket(resource).delete(key(namespace, name));
    const gone = structuredClone({ ...obj, metadata: { ...obj.metadata, resourceVersion: String(++this.revision) } });
    this.record(resource, namespace, 'DELETED', gone);
    const uid = obj.metadata?.uid;
    for (const [r, objects] of this.objects) {
      for (const owned of [...objects.values()]) {
        if (owned.metadata?.namespace === namespace && owned.metadata?.ownerReferences?.some((ref) => ref.uid === uid))
          this.delete(r, namespace, owned.metadata.name!);
      }
    }
    return structuredClone(gone);
  }

  private record(resource: Resource, namespace: string, type: EventType, object: KubernetesObject): void {
    const event = { revision: this.revision, resource, namespace, type, object };
    this.history.push(event);
    for (const w of this.watchers) this.send(w, event);
  }

  private send(w: Watcher, e: (typeof this.history)[number]): void {
    if (w.resource !== e.resource || w.namespace !== e.namespace || !w.matches(e.object)) return;
    const object = structuredClone(e.object);
    this.deliver(() => {
      if (w.open) w.callback(e.type, object, { type: e.type, object });
    });
  }

  private closeWatch(w: Watcher, err: Error | null): void {
    this.watchers.delete(w);
    this.deliver(() => {
      if (!w.open) return;
      w.open = false;
      w.done(err);
    });
  }

  private deliver(fn: () => void): void {
    this.deliveries.push(fn);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.held) return;
    this.scheduled = true;
    realSetImmediate(() => {
      this.scheduled = false;
      if (this.held) return;
      const batch = this.deliveries;
      this.deliveries = [];
      for (const fn of batch) fn();
    });
  }
}
