import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { CoreV1Api, V1Container, V1ContainerStatus, V1Pod, V1PodStatus } from '@kubernetes/client-node';
import { containerLimits, joinGroupsCommand, type ContainerGroup, type NodeCgroups } from './cgroups.ts';
import { containerEnv, expandKubeVars } from './container-env.ts';
import type { ContainerLogRegistry } from './container-logs.ts';
import { resolveImage, UnsupportedImage, type NodeHost } from './images.ts';
import { lostPodStatus } from './lost-pod.ts';
import { bwrapArgs } from './sandbox-args.ts';
import { prepareVolumes, type VolumeSources } from './volumes.ts';

const NETWORK_LABEL = 'c2d.oceanprotocol.com/network';
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface PodRunnerDeps {
  core: CoreV1Api;
  nodeName: string;
  nodeRoot: string;
  /** The project and its Node binary, which `node:*` images and the pod programs run on. */
  host: NodeHost;
  logs: ContainerLogRegistry;
  volumeSources: VolumeSources;
  /** Where container limits are enforced; undefined runs containers without limits. */
  cgroups?: NodeCgroups;
  log: (msg: string, fields?: Record<string, unknown>) => void;
}

const isoNow = (): Date => new Date();
/** How long a pod's status is tried again while the API server does not answer. */
const STATUS_WRITE_PATIENCE_MS = 120_000;

function httpCode(err: unknown): number | undefined {
  const e = err as { code?: number; statusCode?: number };
  return e?.code ?? e?.statusCode;
}

/** One pod incarnation on this node: its sandboxes, status and end. */
class PodWork {
  private readonly children = new Set<ChildProcess>();
  private status: V1PodStatus;
  private killedFor?: { reason: string; message: string };
  private deadlineTimer?: NodeJS.Timeout;
  private statusWrite: Promise<void> = Promise.resolve();
  done = false;

  constructor(
    private pod: V1Pod,
    private readonly deps: PodRunnerDeps,
  ) {
    this.status = {
      phase: 'Pending',
      hostIP: '127.0.0.1',
      podIP: '127.0.0.1',
      startTime: isoNow(),
      conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: isoNow() }],
    };
  }

  get uid(): string {
    return this.pod.metadata!.uid!;
  }

  private get ns(): string {
    return this.pod.metadata!.namespace!;
  }

  private get name(): string {
    return this.pod.metadata!.name!;
  }

  /** Kills every sandbox of the pod; the reason, when given, becomes the pod's final status. */
  kill(reason?: { reason: string; message: string }): void {
    if (reason && !this.killedFor) this.killedFor = reason;
    for (const child of this.children) child.kill('SIGKILL');
  }

  private publishStatus(): Promise<void> {
    const snapshot = structuredClone(this.status);
    this.statusWrite = this.statusWrite
      .then(() => this.writeStatus(snapshot))
      .catch((err) =>
        this.deps.log('pod status update failed', { pod: `${this.ns}/${this.name}`, error: String(err) }),
      );
    return this.statusWrite;
  }

  /**
   * Writes the pod's status, trying again through conflicts and, for up to STATUS_WRITE_PATIENCE_MS, through an API
   * server that does not answer or refuses (restarting): a kubelet's status manager keeps a pod's status in sync,
   * so a restart of the API server never loses a pod's end.
   */
  private async writeStatus(status: V1PodStatus): Promise<void> {
    const giveUpAt = Date.now() + STATUS_WRITE_PATIENCE_MS;
    for (let delay = 100; ; delay = Math.min(delay * 2, 2000)) {
      try {
        const current = await this.deps.core.readNamespacedPod({ name: this.name, namespace: this.ns });
        if (current.metadata?.uid !== this.uid) return;
        current.status = status;
        await this.deps.core.replaceNamespacedPodStatus({ name: this.name, namespace: this.ns, body: current });
        return;
      } catch (err) {
        const code = httpCode(err);
        if (code === 404) return;
        if (code === 409) continue;
        // Even 403 passes: after an API server restart its node authorizer refuses the node until it has rebuilt
        // its graph of which pods are whose.
        if (Date.now() > giveUpAt) throw err;
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private setCondition(type: string, value: boolean): void {
    const conditions = (this.status.conditions ??= []);
    const existing = conditions.find((c) => c.type === type);
    const status = value ? 'True' : 'False';
    if (existing) {
      if (existing.status !== status) Object.assign(existing, { status, lastTransitionTime: isoNow() });
    } else conditions.push({ type, status, lastTransitionTime: isoNow() });
  }

  private async finish(phase: 'Succeeded' | 'Failed', reason?: string, message?: string): Promise<void> {
    clearTimeout(this.deadlineTimer);
    this.status.phase = phase;
    if (reason) this.status.reason = reason;
    if (message) this.status.message = message;
    this.setCondition('Ready', false);
    this.setCondition('ContainersReady', false);
    this.done = true;
    await this.publishStatus();
  }

  async run(): Promise<void> {
    const spec = this.pod.spec!;
    const all = [...(spec.initContainers ?? []), ...spec.containers];
    let runtimes;
    try {
      runtimes = new Map(all.map((c) => [c.name, resolveImage(c.image ?? '', c.command, c.args, this.deps.host)]));
    } catch (err) {
      if (!(err instanceof UnsupportedImage)) throw err;
      this.status.containerStatuses = spec.containers.map((c) => ({
        name: c.name,
        image: c.image ?? '',
        imageID: '',
        ready: false,
        restartCount: 0,
        state: { waiting: { reason: 'UnsupportedImage', message: err.message } },
      }));
      return this.finish('Failed', 'UnsupportedImage', err.message);
    }

    const ads = spec.activeDeadlineSeconds;
    if (ads !== undefined && ads !== null) {
      const remaining = new Date(this.status.startTime!).getTime() + ads * 1000 - Date.now();
      this.deadlineTimer = setTimeout(
        () =>
          this.kill({
            reason: 'DeadlineExceeded',
            message: `Pod was active on the node longer than the specified deadline (${ads}s)`,
          }),
        Math.max(0, remaining),
      );
    }

    let volumes: Map<string, string>;
    try {
      volumes = await this.withRetries(() => prepareVolumes(this.pod, this.deps.nodeRoot, this.deps.volumeSources));
    } catch (err) {
      return this.finish('Failed', 'VolumeSetupFailed', String((err as Error).message ?? err));
    }
    await this.publishStatus();

    this.status.initContainerStatuses = (spec.initContainers ?? []).map((c) => this.waitingStatus(c));
    this.status.containerStatuses = spec.containers.map((c) => this.waitingStatus(c));
    for (const [i, c] of (spec.initContainers ?? []).entries()) {
      const code = await this.runContainer(c, runtimes.get(c.name)!, volumes, this.status.initContainerStatuses[i]!);
      if (this.killedFor) return this.finish('Failed', this.killedFor.reason, this.killedFor.message);
      if (code !== 0)
        return this.finish('Failed', 'InitContainerFailed', `init container ${c.name} exited with ${code}`);
    }
    this.setCondition('Initialized', true);
    this.status.phase = 'Running';
    const codes = await Promise.all(
      spec.containers.map((c, i) =>
        this.runContainer(c, runtimes.get(c.name)!, volumes, this.status.containerStatuses![i]!),
      ),
    );
    if (this.killedFor) return this.finish('Failed', this.killedFor.reason, this.killedFor.message);
    return this.finish(codes.every((c) => c === 0) ? 'Succeeded' : 'Failed');
  }

  /** The node authorizer learns of a pod's secrets a moment after the binding, so early 403/404 are retried. */
  private async withRetries<T>(fn: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + 30_000;
    for (let delay = 100; ; delay = Math.min(delay * 2, 2000)) {
      try {
        return await fn();
      } catch (err) {
        if (Date.now() > deadline || this.killedFor) throw err;
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private waitingStatus(c: V1Container): V1ContainerStatus {
    return {
      name: c.name,
      image: c.image ?? '',
      imageID: '',
      ready: false,
      restartCount: 0,
      started: false,
      state: { waiting: { reason: 'PodInitializing' } },
    };
  }

  /** Runs one container to its end, restarting it as the pod's restartPolicy says; resolves with its last exit code. */
  private async runContainer(
    c: V1Container,
    runtime: ReturnType<typeof resolveImage>,
    volumes: Map<string, string>,
    cs: V1ContainerStatus,
  ): Promise<number> {
    const policy = this.pod.spec!.restartPolicy ?? 'Always';
    for (let restart = 0; ; restart++) {
      const code = await this.runOnce(c, runtime, volumes, cs, restart);
      if (this.killedFor) return code;
      const again = policy === 'Always' || (policy === 'OnFailure' && code !== 0);
      if (!again) return code;
      cs.restartCount = restart + 1;
      await new Promise((r) => setTimeout(r, Math.min(1000 * 2 ** restart, 30_000)));
      if (this.killedFor) return code;
    }
  }

  private async runOnce(
    c: V1Container,
    runtime: ReturnType<typeof resolveImage>,
    volumes: Map<string, string>,
    cs: V1ContainerStatus,
    restart: number,
  ): Promise<number> {
    const log = this.deps.logs.open(this.ns, this.name, this.uid, c.name, restart);
    let env: Record<string, string>;
    try {
      env = await containerEnv(this.pod, c, (kind, name) => this.deps.volumeSources.readData(kind, this.ns, name));
    } catch (err) {
      log.running = false;
      cs.state = {
        terminated: {
          exitCode: 128,
          reason: 'CreateContainerConfigError',
          message: (err as Error).message,
          finishedAt: isoNow(),
        },
      };
      await this.publishStatus();
      return 128;
    }
    const sc = { ...this.pod.spec!.securityContext, ...c.securityContext } as {
      runAsUser?: number;
      runAsGroup?: number;
      readOnlyRootFilesystem?: boolean;
    };
    const mounts = (c.volumeMounts ?? []).map((m) => {
      const base = volumes.get(m.name);
      if (!base) throw new Error(`container ${c.name} mounts unknown volume ${m.name}`);
      return {
        hostPath: m.subPath ? join(base, m.subPath) : base,
        mountPath: m.mountPath,
        readOnly: Boolean(m.readOnly),
      };
    });
    const fullEnv = { PATH: [...runtime.searchPath, DEFAULT_PATH].join(':'), HOME: '/', HOSTNAME: this.name, ...env };
    const argv = runtime.argv.map((a, i) => (i === 0 ? a : expandKubeVars(a, fullEnv)));
    const args = bwrapArgs({
      argv,
      env: fullEnv,
      mounts,
      extraReadOnlyBinds: runtime.extraReadOnlyBinds,
      workingDir: c.workingDir,
      hostname: this.name.slice(0, 63),
      network: this.pod.metadata?.labels?.[NETWORK_LABEL] === 'allow',
      uid: sc.runAsUser ?? 0,
      gid: sc.runAsGroup ?? sc.runAsUser ?? 0,
      writableTmp: runtime.needsTmp || !sc.readOnlyRootFilesystem,
    });
    let group: ContainerGroup | undefined;
    try {
      group = this.deps.cgroups?.create(`${this.uid}_${c.name}_${restart}`, containerLimits(c));
    } catch (err) {
      log.running = false;
      cs.state = {
        terminated: {
          exitCode: 128,
          reason: 'StartError',
          message: `cannot set the container's limits: ${(err as Error).message}`,
          finishedAt: isoNow(),
        },
      };
      await this.publishStatus();
      return 128;
    }
    const [command, ...commandArgs] = group
      ? joinGroupsCommand(group.procsFiles, ['bwrap', ...args])
      : ['bwrap', ...args];
    const fd = openSync(log.file, 'a');
    const child = spawn(command!, commandArgs, { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    this.children.add(child);
    // Listen before any await: a short-lived container can exit while the Running status is being written.
    const exited = new Promise<number>((resolve) => {
      child.once('exit', (exitCode, signal) =>
        resolve(exitCode ?? (signal ? 128 + (signal === 'SIGKILL' ? 9 : 15) : 1)),
      );
      child.once('error', () => resolve(127));
    });
    const startedAt = isoNow();
    cs.state = { running: { startedAt } };
    cs.started = true;
    cs.ready = true;
    cs.containerID = `local://${child.pid}`;
    await this.publishStatus();
    const code = await exited;
    this.children.delete(child);
    const oomKilled = code !== 0 && group?.oomKilled() === true;
    group?.remove();
    log.running = false;
    cs.ready = false;
    const reason =
      this.killedFor?.reason === 'DeadlineExceeded'
        ? 'DeadlineExceeded'
        : code === 0
          ? 'Completed'
          : this.killedFor
            ? 'Killed'
            : oomKilled
              ? 'OOMKilled'
              : 'Error';
    cs.state = { terminated: { exitCode: code, reason, startedAt, finishedAt: isoNow(), containerID: cs.containerID } };
    cs.lastState = {};
    await this.publishStatus();
    return code;
  }
}

/** Runs the pods bound to this node, reports their status, and ends them on deletion or deadline. */
export class PodRunner {
  private readonly work = new Map<string, PodWork>();
  constructor(private readonly deps: PodRunnerDeps) {}

  /** Reconciles one observed pod: start it, or end it when it is being deleted. */
  observe(pod: V1Pod): void {
    if (pod.spec?.nodeName !== this.deps.nodeName) return;
    const uid = pod.metadata!.uid!;
    if (pod.metadata?.deletionTimestamp) {
      void this.terminate(pod);
      return;
    }
    if (this.work.has(uid)) return;
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') return;
    if (phase === 'Running' || existsSync(this.podDir(uid))) {
      // Started on this node but not by this process (it may have started its container before its status said
      // so): the node restarted and the sandbox died with it. Running it again would hide a second run.
      void this.markLost(pod);
      return;
    }
    const w = new PodWork(pod, this.deps);
    this.work.set(uid, w);
    void w.run().catch((err) =>
      this.deps.log('pod run failed', {
        pod: `${pod.metadata?.namespace}/${pod.metadata?.name}`,
        error: String(err),
      }),
    );
  }

  /** The pod is gone from the API: make sure nothing of it still runs, and remove its directories. */
  forget(pod: V1Pod): void {
    const uid = pod.metadata?.uid;
    if (!uid) return;
    this.work.get(uid)?.kill();
    this.work.delete(uid);
    this.removeLocalState(pod);
  }

  private podDir(uid: string): string {
    return join(this.deps.nodeRoot, 'pods', uid);
  }

  private removeLocalState(pod: V1Pod): void {
    const { namespace, name, uid } = pod.metadata!;
    rmSync(this.podDir(uid!), { recursive: true, force: true });
    const logDir = this.deps.logs.dirOf(namespace!, name!, uid!);
    this.deps.logs.forget(namespace!, name!, logDir);
    rmSync(logDir, { recursive: true, force: true });
  }

  private async terminate(pod: V1Pod): Promise<void> {
    const { namespace, name, uid } = pod.metadata!;
    this.work.get(uid!)?.kill({ reason: 'Terminated', message: 'pod deleted' });
    try {
      await this.deps.core.deleteNamespacedPod({
        name: name!,
        namespace: namespace!,
        gracePeriodSeconds: 0,
        body: { preconditions: { uid }, gracePeriodSeconds: 0 },
      });
    } catch (err) {
      const code = httpCode(err);
      if (code !== 404 && code !== 409)
        this.deps.log('final pod delete failed', { pod: `${namespace}/${name}`, error: String(err) });
    }
  }

  private async markLost(pod: V1Pod): Promise<void> {
    const { namespace, name } = pod.metadata!;
    try {
      const current = await this.deps.core.readNamespacedPod({ name: name!, namespace: namespace! });
      const phase = current.status?.phase;
      if (
        current.metadata?.uid !== pod.metadata?.uid ||
        !current.status ||
        (phase !== 'Running' && phase !== 'Pending')
      )
        return;
      current.status = lostPodStatus(current, new Date());
      await this.deps.core.replaceNamespacedPodStatus({ name: name!, namespace: namespace!, body: current });
    } catch (err) {
      this.deps.log('marking a lost pod failed', { pod: `${namespace}/${name}`, error: String(err) });
    }
  }

  stopAll(): void {
    for (const w of this.work.values()) w.kill({ reason: 'NodeShutdown', message: 'the local node is shutting down' });
  }
}
