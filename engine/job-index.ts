import type { V1ConfigMap } from '@kubernetes/client-node';
import { InvalidJobConfigMap, readJobConfigMap, type JobConfigMap } from '../lib/job/configmap.ts';
import { jobIdFromName } from '../lib/job/names.ts';
import { StatusCode, isFinal } from '../lib/job/status.ts';
import type { Capacity } from './planner.ts';

/**
 * Every job ConfigMap the engine knows, and per environment its queue (queued jobs, oldest first) and how many of its
 * jobs are active. Kept up to date change by change, so that a job's place in its queue
 * costs a binary search: when each reconcile walked every job instead, a full resync of 5,534 jobs took 109 s of CPU.
 *
 * A job's entry is the newest of the informer's copy and the engine's own last write (the informer lags behind a
 * write by a watch round trip, and a job leaving the queue must count as active for the next one at once).
 */

/** Where a job counts in its environment: waiting in the queue, holding a slot, or neither. */
type Role = 'queued' | 'active' | 'none';

interface Place {
  environment: string;
  role: Role;
}

/** What a change did to one job's place: `before` or `after` is absent when the job was not known or is gone. */
export interface IndexChange {
  jobId: string;
  before?: Place;
  after?: Place;
}

/**
 * What a job's place needs of its ConfigMap, read once per change. The ConfigMap itself is the informer's object (or
 * the engine's write), not a copy; the reconciler reads the job from it when it needs the whole job.
 */
interface Entry {
  cm: V1ConfigMap;
  /** Absent for a ConfigMap that is not a valid job: it has no place and is not counted. */
  place?: Place;
  /** Queue order: creation time, then job id. */
  created: number;
  code?: StatusCode;
}

interface EnvironmentIndex {
  /** Queued jobs (not asked to stop), sorted by (created, jobId). */
  queue: Array<{ created: number; jobId: string }>;
  active: number;
}

function roleOf(job: JobConfigMap): Role {
  const code = job.status.code;
  if (isFinal(code)) return 'none';
  if (code === StatusCode.WarmingUp) return job.stopRequestedAt ? 'none' : 'queued';
  return 'active';
}

function read(cm: V1ConfigMap): JobConfigMap | undefined {
  try {
    return readJobConfigMap(cm);
  } catch (err) {
    if (err instanceof InvalidJobConfigMap) return undefined;
    throw err;
  }
}

/** resourceVersions are opaque to clients, but the API server's are etcd revisions: the larger is the newer. */
function isNewer(candidate: V1ConfigMap, than: V1ConfigMap): boolean {
  const a = Number(candidate.metadata?.resourceVersion);
  const b = Number(than.metadata?.resourceVersion);
  if (!Number.isFinite(a) || !Number.isFinite(b))
    return candidate.metadata?.resourceVersion !== than.metadata?.resourceVersion;
  return a > b;
}

const before = (a: { created: number; jobId: string }, b: { created: number; jobId: string }): boolean =>
  a.created < b.created || (a.created === b.created && a.jobId < b.jobId);

export class JobIndex {
  private readonly entries = new Map<string, Entry>();
  private readonly environments = new Map<string, EnvironmentIndex>();
  private readonly byStatus = new Map<number, number>();

  /** The newest ConfigMap known of a job. */
  get(jobId: string): V1ConfigMap | undefined {
    return this.entries.get(jobId)?.cm;
  }

  jobIds(): string[] {
    return [...this.entries.keys()];
  }

  /** Jobs by status code (invalid ConfigMaps left out), for the metrics. */
  countsByStatus(): Map<number, number> {
    return new Map(this.byStatus);
  }

  /** A ConfigMap the informer added or updated; an older copy than the engine's own write is ignored. */
  observe(cm: V1ConfigMap): IndexChange | undefined {
    const jobId = jobIdFromName(cm.metadata?.name ?? '');
    if (!jobId) return undefined;
    const current = this.entries.get(jobId);
    if (current && !isNewer(cm, current.cm)) return undefined;
    return this.replace(jobId, cm);
  }

  /** A ConfigMap this engine wrote; ignored when the informer has seen the job deleted (or not yet listed it). */
  wrote(cm: V1ConfigMap): IndexChange | undefined {
    const jobId = jobIdFromName(cm.metadata?.name ?? '');
    const current = jobId ? this.entries.get(jobId) : undefined;
    if (!jobId || !current || !isNewer(cm, current.cm)) return undefined;
    return this.replace(jobId, cm);
  }

  /** The informer saw the job's ConfigMap deleted. */
  remove(jobId: string): IndexChange | undefined {
    const entry = this.entries.get(jobId);
    if (!entry) return undefined;
    this.unplace(jobId, entry);
    this.entries.delete(jobId);
    return { jobId, ...(entry.place ? { before: entry.place } : {}) };
  }

  /** Active jobs of an environment and, when it is queued, the queued jobs ahead of `jobId`. O(log N). */
  capacity(jobId: string, environment: string): Capacity {
    const env = this.environments.get(environment);
    if (!env) return { active: 0, ahead: 0 };
    const self = this.entries.get(jobId);
    if (!self || self.place?.environment !== environment) return { active: env.active, ahead: env.queue.length };
    return {
      active: env.active - (self.place.role === 'active' ? 1 : 0),
      ahead: this.lowerBound(env.queue, { created: self.created, jobId }),
    };
  }

  activeIn(environment: string): number {
    return this.environments.get(environment)?.active ?? 0;
  }

  /** The first `count` queued jobs of an environment, oldest first. */
  queueHead(environment: string, count: number): string[] {
    return (this.environments.get(environment)?.queue ?? []).slice(0, Math.max(0, count)).map((q) => q.jobId);
  }

  private replace(jobId: string, cm: V1ConfigMap): IndexChange {
    const previous = this.entries.get(jobId);
    if (previous) this.unplace(jobId, previous);
    const job = read(cm);
    const entry: Entry = { cm, created: Infinity };
    if (job) {
      const created = Date.parse(job.workflow.dateCreated);
      entry.created = Number.isFinite(created) ? created : Infinity;
      entry.code = job.status.code;
      entry.place = { environment: job.workflow.environment, role: roleOf(job) };
    }
    this.entries.set(jobId, entry);
    this.place(jobId, entry);
    return {
      jobId,
      ...(previous?.place ? { before: previous.place } : {}),
      ...(entry.place ? { after: entry.place } : {}),
    };
  }

  private place(jobId: string, entry: Entry): void {
    if (entry.code !== undefined) this.byStatus.set(entry.code, (this.byStatus.get(entry.code) ?? 0) + 1);
    if (!entry.place || entry.place.role === 'none') return;
    let env = this.environments.get(entry.place.environment);
    if (!env) {
      env = { queue: [], active: 0 };
      this.environments.set(entry.place.environment, env);
    }
    if (entry.place.role === 'active') env.active += 1;
    else {
      const key = { created: entry.created, jobId };
      // A splice moves at most N pointers (microseconds at 5,000); a tree would buy little for much more code.
      env.queue.splice(this.lowerBound(env.queue, key), 0, key);
    }
  }

  private unplace(jobId: string, entry: Entry): void {
    if (entry.code !== undefined) {
      const n = (this.byStatus.get(entry.code) ?? 0) - 1;
      if (n > 0) this.byStatus.set(entry.code, n);
      else this.byStatus.delete(entry.code);
    }
    if (!entry.place || entry.place.role === 'none') return;
    const env = this.environments.get(entry.place.environment);
    if (!env) return;
    if (entry.place.role === 'active') env.active -= 1;
    else {
      const at = this.lowerBound(env.queue, { created: entry.created, jobId });
      if (env.queue[at]?.jobId === jobId) env.queue.splice(at, 1);
    }
    if (env.active === 0 && env.queue.length === 0) this.environments.delete(entry.place.environment);
  }

  /** How many queued entries sort before `key`. */
  private lowerBound(
    queue: ReadonlyArray<{ created: number; jobId: string }>,
    key: { created: number; jobId: string },
  ): number {
    let lo = 0;
    let hi = queue.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (before(queue[mid]!, key)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/**
 * The environment in which a change made room for a queued job, if it did: a job that held a slot or a place in
 * the queue no longer does (it ended, was asked to stop while queued, or is gone). A job moving from the queue to a
 * slot makes no room: every job behind it sees one fewer ahead and one more active.
 */
export function roomMadeIn(change: IndexChange | undefined): string | undefined {
  const was = change?.before;
  if (!was || was.role === 'none') return undefined;
  const now = change.after;
  if (now && now.environment === was.environment && now.role !== 'none') return undefined;
  return was.environment;
}
