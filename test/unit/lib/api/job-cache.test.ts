import type { CoreV1Api, V1ConfigMap } from '@kubernetes/client-node';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { JobCache } from '../../../../lib/api/job-cache.ts';
import { JobStore } from '../../../../lib/api/jobs.ts';
import { silentLogger } from '../../../support/silent-logger.ts';
import { buildJobConfigMap } from '../../../../lib/job/configmap.ts';
import { jobNames } from '../../../../lib/job/names.ts';
import { initialStatus } from '../../../../lib/job/status.ts';
import { workflow } from '../../../support/job-fixtures.ts';
import { kubeStatus } from '../../../../lib/kube/errors.ts';
import type { ClientNode, Kube } from '../../../../lib/kube/lazy.ts';

const NS = 'c2d-jobs';
const ALICE = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8';
const BOB = '0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc';

let serial = 0;
function jobConfigMap(owner: string, jobId = (++serial).toString(16).padStart(32, '0')): V1ConfigMap {
  const wf = workflow({ jobId, owner, dateCreated: new Date(Date.UTC(2024, 4, 1, 10, 0, serial)).toISOString() });
  const cm = buildJobConfigMap(wf, initialStatus(new Date('2024-05-01T10:00:00Z')), NS);
  cm.metadata = { ...cm.metadata, resourceVersion: String(serial) };
  return cm;
}

type Callback = (obj: V1ConfigMap) => void;

/** Stands for client-node's ListWatch: `start` lists through the cache's list function; the test sends watch events and failures. */
class FakeListWatch {
  static last: FakeListWatch | undefined;
  static failNextStart = false;
  /** A watch request that cannot be opened: start() rejects and emits nothing (as client-node's ListWatch does). */
  static rejectNextRestarts = 0;
  readonly objects = new Map<string, V1ConfigMap>();
  readonly callbacks: Record<string, Array<(arg: unknown) => void>> = {
    add: [],
    update: [],
    delete: [],
    error: [],
    connect: [],
  };
  starts = 0;

  constructor(
    readonly path: string,
    _watch: unknown,
    private readonly list: () => Promise<{ items: V1ConfigMap[] }>,
    autoStart: boolean,
    readonly labelSelector: string,
  ) {
    expect(autoStart).toBe(false);
    FakeListWatch.last = this;
  }

  on(verb: string, cb: (arg: unknown) => void): void {
    this.callbacks[verb]!.push(cb);
  }

  async start(): Promise<void> {
    this.starts += 1;
    if (this.starts > 1 && FakeListWatch.rejectNextRestarts > 0) {
      FakeListWatch.rejectNextRestarts -= 1;
      throw new Error('connect ECONNREFUSED');
    }
    if (FakeListWatch.failNextStart) {
      FakeListWatch.failNextStart = false;
      this.fail(new Error('list refused'));
      return;
    }
    let items: V1ConfigMap[];
    try {
      items = (await this.list()).items;
    } catch (err) {
      this.fail(err);
      return;
    }
    for (const cm of items) this.added(cm);
  }

  async stop(): Promise<void> {}

  get(name: string, namespace?: string): V1ConfigMap | undefined {
    expect(namespace).toBe(NS);
    return this.objects.get(name);
  }

  added(cm: V1ConfigMap): void {
    const known = this.objects.has(cm.metadata!.name!);
    this.objects.set(cm.metadata!.name!, cm);
    for (const cb of this.callbacks[known ? 'update' : 'add']!) (cb as Callback)(cm);
  }

  deleted(cm: V1ConfigMap): void {
    this.objects.delete(cm.metadata!.name!);
    for (const cb of this.callbacks.delete!) (cb as Callback)(cm);
  }

  fail(err: unknown): void {
    for (const cb of this.callbacks.error!) cb(err);
  }
}

class NotFound extends Error {
  code = 404;
  body = {};
  headers = {};
}

/** A CoreV1Api that serves reads from `objects` and counts them. */
function fakeCore(objects: Map<string, V1ConfigMap>) {
  const calls = { read: 0, list: 0, cacheList: 0 };
  const core = {
    readNamespacedConfigMap: async ({ name }: { name: string }) => {
      calls.read += 1;
      const cm = objects.get(name);
      if (!cm) throw new NotFound('not found');
      return cm;
    },
    listNamespacedConfigMap: async ({ labelSelector, limit }: { labelSelector: string; limit?: number }) => {
      // Only the cache's own list is bounded: counted apart from the store's reads.
      if (limit === undefined) calls.list += 1;
      else calls.cacheList += 1;
      const owner = /owner=(0x[0-9a-f]{40})/.exec(labelSelector)?.[1];
      const items = [...objects.values()].filter(
        (cm) => !owner || cm.metadata?.labels?.['c2d.oceanprotocol.com/owner'] === owner,
      );
      if (limit === undefined || items.length <= limit) return { metadata: {}, items };
      return { metadata: { _continue: 'more' }, items: items.slice(0, limit) };
    },
  } as unknown as CoreV1Api;
  return { core, calls };
}

function setup(items: V1ConfigMap[], maxJobs?: number) {
  const apiObjects = new Map(items.map((cm) => [cm.metadata!.name!, cm]));
  const { core, calls } = fakeCore(apiObjects);
  const k8s = { ListWatch: FakeListWatch, Watch: class {} } as unknown as ClientNode;
  const kube = async (): Promise<Kube> => ({ kc: {} as Kube['kc'], core, k8s });
  const cache = new JobCache(kube, NS, silentLogger, maxJobs);
  const store = new JobStore(core, NS, silentLogger, cache);
  return { cache, store, calls, apiObjects };
}

const nameOf = (cm: V1ConfigMap): string => cm.metadata!.name!;
const idOf = (cm: V1ConfigMap): string => cm.metadata!.labels!['c2d.oceanprotocol.com/job-id']!;

afterEach(() => {
  vi.useRealTimers();
  FakeListWatch.failNextStart = false;
  FakeListWatch.rejectNextRestarts = 0;
});

describe('JobCache', () => {
  it('answers nothing before it has synced, so the store asks the API', async () => {
    const a = jobConfigMap(ALICE);
    const { cache, store, calls } = setup([a]);
    expect(cache.synced).toBe(false);
    expect(cache.job(nameOf(a))).toBeUndefined();
    expect(cache.ownedBy(ALICE)).toBeUndefined();
    // The store's first read starts the cache and is answered by the API meanwhile.
    expect((await store.get(idOf(a))).workflow.owner).toBe(ALICE);
    expect(calls.read).toBe(1);
  });

  it('once synced, answers by name and by owner without an API call', async () => {
    const [a1, a2, b1] = [jobConfigMap(ALICE), jobConfigMap(ALICE), jobConfigMap(BOB)];
    const { cache, store, calls } = setup([a1!, a2!, b1!]);
    await cache.start();
    expect(cache.synced).toBe(true);
    expect(FakeListWatch.last!.path).toBe(`/api/v1/namespaces/${NS}/configmaps`);
    expect(FakeListWatch.last!.labelSelector).toContain('c2d.oceanprotocol.com/role=workflow');
    expect((await store.getOwned(idOf(a1!), ALICE)).name).toBe(nameOf(a1!));
    await expect(store.getOwned(idOf(b1!), ALICE)).rejects.toMatchObject({ status: 403 });
    expect((await store.listOwned(ALICE)).map((j) => j.name)).toEqual([nameOf(a1!), nameOf(a2!)]);
    expect((await store.listOwned(BOB.toUpperCase().replace('0X', '0x'))).map((j) => j.name)).toEqual([nameOf(b1!)]);
    expect(calls).toEqual({ read: 0, list: 0, cacheList: 1 });
  });

  it('falls back to the API for a job it has not seen yet (just created), and 404 only when the API has none', async () => {
    const { cache, store, calls, apiObjects } = setup([]);
    await cache.start();
    const fresh = jobConfigMap(ALICE);
    apiObjects.set(nameOf(fresh), fresh);
    expect((await store.get(idOf(fresh))).name).toBe(nameOf(fresh));
    expect(calls.read).toBe(1);
    await expect(store.get('f'.repeat(32))).rejects.toMatchObject({ status: 404 });
    expect(calls.read).toBe(2);
  });

  it('follows watch events: new versions, new jobs, deleted jobs', async () => {
    const a = jobConfigMap(ALICE);
    const { cache } = setup([a]);
    await cache.start();
    const informer = FakeListWatch.last!;
    const b = jobConfigMap(ALICE);
    informer.added(b);
    expect(cache.ownedBy(ALICE)!.map((j) => j.name)).toEqual([nameOf(a), nameOf(b)]);
    const stopped = {
      ...a,
      metadata: { ...a.metadata, annotations: { 'c2d.oceanprotocol.com/stop-requested': '2024-05-01T11:00:00.000Z' } },
    };
    informer.added(stopped);
    expect(cache.job(nameOf(a))!.stopRequestedAt).toBe('2024-05-01T11:00:00.000Z');
    informer.deleted(a);
    expect(cache.job(nameOf(a))).toBeUndefined();
    expect(cache.ownedBy(ALICE)!.map((j) => j.name)).toEqual([nameOf(b)]);
    informer.deleted(b);
    expect(cache.ownedBy(ALICE)).toEqual([]);
  });

  it('leaves out a ConfigMap that does not hold a valid job', async () => {
    const bad = jobConfigMap(ALICE);
    bad.data = { ...bad.data, 'status.json': '{' };
    const good = jobConfigMap(ALICE);
    const { cache } = setup([bad, good]);
    await cache.start();
    expect(cache.job(nameOf(bad))).toBeUndefined();
    expect(cache.ownedBy(ALICE)!.map((j) => j.name)).toEqual([nameOf(good)]);
  });

  it('stops answering when the watch fails, and answers again once it is restored', async () => {
    vi.useFakeTimers();
    const a = jobConfigMap(ALICE);
    const { cache, store, calls } = setup([a]);
    await cache.start();
    const informer = FakeListWatch.last!;
    informer.fail(new Error('connection reset'));
    expect(cache.synced).toBe(false);
    await store.get(idOf(a));
    expect(calls.read).toBe(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(informer.starts).toBe(2);
    expect(cache.synced).toBe(true);
    await store.get(idOf(a));
    expect(calls.read).toBe(1);
  });

  it('keeps restarting a watch whose restart cannot even open its request (the API server is down)', async () => {
    vi.useFakeTimers();
    const a = jobConfigMap(ALICE);
    const { cache } = setup([a]);
    await cache.start();
    const informer = FakeListWatch.last!;
    FakeListWatch.rejectNextRestarts = 2;
    informer.fail(new Error('connection reset'));
    await vi.advanceTimersByTimeAsync(10_000);
    expect(informer.starts).toBe(4);
    expect(cache.synced).toBe(true);
    expect(cache.job(nameOf(a))?.name).toBe(nameOf(a));
  });

  it('retries a first list that fails, with backoff', async () => {
    vi.useFakeTimers();
    FakeListWatch.failNextStart = true;
    const a = jobConfigMap(ALICE);
    const { cache } = setup([a]);
    await cache.start();
    expect(cache.synced).toBe(false);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(cache.synced).toBe(true);
    expect(cache.job(nameOf(a))?.name).toBe(nameOf(a));
  });

  it('job names are the ones JobStore reads', () => {
    const a = jobConfigMap(ALICE, 'ab'.repeat(16));
    expect(nameOf(a)).toBe(jobNames('ab'.repeat(16)).configMap);
  });
});

describe('kubeStatus', () => {
  it('reads the status of client-node API errors only', () => {
    expect(kubeStatus(new NotFound('x'))).toBe(404);
    expect(kubeStatus(Object.assign(new Error('x'), { code: 'ECONNRESET' }))).toBeUndefined();
    expect(kubeStatus(Object.assign(new Error('x'), { code: 500 }))).toBeUndefined();
    expect(kubeStatus({ code: 404, body: {}, headers: {} })).toBeUndefined();
  });
  it('turns itself off when the namespace holds more jobs than it may, before holding them all', async () => {
    const items = [jobConfigMap(ALICE), jobConfigMap(ALICE), jobConfigMap(BOB)];
    const { cache, store, calls } = setup(items, 2);
    await cache.start();
    expect(calls.cacheList).toBe(1);
    expect(cache.synced).toBe(false);
    expect(cache.job(nameOf(items[0]!))).toBeUndefined();
    // Every read goes to the API, and the cache does not try again.
    expect((await store.listOwned(ALICE)).length).toBe(2);
    expect((await store.get(idOf(items[2]!))).workflow.owner).toBe(BOB);
    expect(calls).toEqual({ read: 1, list: 1, cacheList: 1 });
    await cache.start();
    expect(FakeListWatch.last!.starts).toBe(1);
  });

  it('turns itself off when the watch brings it past its bound, and drops managedFields from what it holds', async () => {
    const a = jobConfigMap(ALICE);
    a.metadata = { ...a.metadata, managedFields: [{ manager: 'start', operation: 'Update' }] };
    const { cache, store, calls, apiObjects } = setup([a], 2);
    await cache.start();
    expect(cache.synced).toBe(true);
    expect(FakeListWatch.last!.objects.get(nameOf(a))!.metadata!.managedFields).toBeUndefined();
    const b = jobConfigMap(BOB);
    FakeListWatch.last!.added(b);
    expect(cache.synced).toBe(true);
    const c = jobConfigMap(BOB);
    apiObjects.set(nameOf(b), b).set(nameOf(c), c);
    FakeListWatch.last!.added(c);
    expect(cache.synced).toBe(false);
    expect(cache.ownedBy(BOB)).toBeUndefined();
    expect((await store.listOwned(BOB)).map((j) => j.name).sort()).toEqual([nameOf(b), nameOf(c)].sort());
    expect(calls.list).toBe(1);
  });
});
