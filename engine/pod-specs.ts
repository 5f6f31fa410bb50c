import type {
  V1Container,
  V1EnvVar,
  V1PersistentVolumeClaim,
  V1Pod,
  V1PodSecurityContext,
  V1ResourceRequirements,
  V1SecurityContext,
  V1Volume,
} from '@kubernetes/client-node';
import { ownerReferenceTo, WORKFLOW_KEY, type JobConfigMap } from '../lib/job/configmap.ts';
import { LABELS, NETWORK_ALLOW, jobLabels, jobNames, type Stage } from '../lib/job/names.ts';
import { OUTPUT_SECRET_KEY, SECRET_KEY } from '../lib/job/secret.ts';
import { RESULTS_STORE_ENV } from '../lib/job/results-store-config.ts';
import { algorithmDid, type Workflow } from '../lib/job/workflow.ts';
import { CONTAINER_LAYOUT } from './pods/layout.ts';

/**
 * Pure builders of a job's Kubernetes objects: its volume and the three pods of its chain. Every pod passes the
 * PodSecurity `restricted` profile; only the algorithm pod runs foreign code, and it gets no token, no network
 * (unless the workflow allows it, and never before its NetworkPolicy is in force), no secrets and a hard deadline.
 */

const DEFAULT_POD_PROGRAMS_IMAGE = 'c2d/pod-programs:0.1.0';

export interface PodSpecSettings {
  /** Image holding this project's pod programs (`configure`, `publish`). */
  podProgramsImage: string;
  /** The unprivileged user and group every job container runs as. */
  uid: number;
  gid: number;
  /** Secret with the results store's settings: keys endpoint, region, bucket, accessKeyId, secretAccessKey. */
  resultsStoreSecret: string;
  /**
   * Secret with the output key (key `privateKey`), which decrypts v2 jobs' own storage targets: mounted into the
   * publish pods of those jobs only. May be absent (the provider then takes no `output`, and such a job's publish
   * says why).
   */
  outputKeySecret: string;
  storageClassName?: string;
  configureDeadlineSeconds: number;
  publishDeadlineSeconds: number;
  /**
   * Download limits of the configure program; `privateHostsAllowed`: the internal addresses it may download from
   * (lib/http/address-policy.ts syntax; empty: none).
   */
  download: { connectTimeoutMs: number; totalTimeoutMs: number; maxFileBytes: number; privateHostsAllowed?: string };
  /** Resources of the configure and publish containers. */
  podProgramResources: { cpu: string; memory: string };
  /** Size of the writable /tmp every container gets. */
  tmpSizeLimit: string;
}

export const DEFAULT_POD_SPEC_SETTINGS: PodSpecSettings = {
  podProgramsImage: DEFAULT_POD_PROGRAMS_IMAGE,
  uid: 1000,
  gid: 1000,
  resultsStoreSecret: 'c2d-results-store',
  outputKeySecret: 'c2d-output-key',
  configureDeadlineSeconds: 900,
  publishDeadlineSeconds: 900,
  download: { connectTimeoutMs: 10_000, totalTimeoutMs: 600_000, maxFileBytes: 1024 * 1024 * 1024 },
  podProgramResources: { cpu: '500m', memory: '256Mi' },
  tmpSizeLimit: '64Mi',
};

/** The job a builder works for: its workflow and the ConfigMap that owns everything built. */
export type JobRef = Pick<JobConfigMap, 'name' | 'uid' | 'workflow'> & { namespace?: string };

const VOLUME = { data: 'data', tmp: 'tmp', secret: 'job-secret', workflow: 'workflow', output: 'output' } as const;
const SECRET_MOUNT = '/secrets/job';
const OUTPUT_MOUNT = '/secrets/output';
/** The key of the output key's Secret, and the files publish reads under OUTPUT_MOUNT. */
export const OUTPUT_KEY_SECRET_KEY = 'privateKey';
const OUTPUT_FILES = { target: 'output.hex', key: 'output.key' } as const;
const WORKFLOW_MOUNT = '/workflow';

function metadata(
  job: JobRef,
  name: string,
  role: Parameters<typeof jobLabels>[1],
  extraLabels: Record<string, string> = {},
) {
  const w = job.workflow;
  return {
    name,
    ...(job.namespace ? { namespace: job.namespace } : {}),
    labels: { ...jobLabels({ jobId: w.jobId, owner: w.owner, environment: w.environment }, role), ...extraLabels },
    ownerReferences: [ownerReferenceTo(job)],
  };
}

export function buildPvc(job: JobRef, settings: PodSpecSettings): V1PersistentVolumeClaim {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: metadata(job, jobNames(job.workflow.jobId).pvc, 'data'),
    spec: {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: `${job.workflow.limits.diskMiB}Mi` } },
      ...(settings.storageClassName ? { storageClassName: settings.storageClassName } : {}),
    },
  };
}

export function buildStagePod(stage: Stage, job: JobRef, settings: PodSpecSettings): V1Pod {
  switch (stage) {
    case 'configure':
      return buildConfigurePod(job, settings);
    case 'algorithm':
      return buildAlgorithmPod(job, settings);
    case 'publish':
      return buildPublishPod(job, settings);
  }
}

function podSecurityContext(settings: PodSpecSettings): V1PodSecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: settings.uid,
    runAsGroup: settings.gid,
    fsGroup: settings.gid,
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

function containerSecurityContext(settings: PodSpecSettings): V1SecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: settings.uid,
    runAsGroup: settings.gid,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    privileged: false,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

function baseVolumes(job: JobRef, settings: PodSpecSettings): V1Volume[] {
  return [
    { name: VOLUME.data, persistentVolumeClaim: { claimName: jobNames(job.workflow.jobId).pvc } },
    { name: VOLUME.tmp, emptyDir: { sizeLimit: settings.tmpSizeLimit } },
  ];
}

function pod(
  job: JobRef,
  stage: Stage,
  settings: PodSpecSettings,
  opts: {
    network: boolean;
    deadlineSeconds: number;
    container: V1Container;
    volumes: V1Volume[];
    initContainers?: V1Container[];
  },
): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: metadata(
      job,
      jobNames(job.workflow.jobId).pods[stage],
      stage,
      opts.network ? { [LABELS.network]: NETWORK_ALLOW } : {},
    ),
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      activeDeadlineSeconds: opts.deadlineSeconds,
      terminationGracePeriodSeconds: 10,
      securityContext: podSecurityContext(settings),
      volumes: opts.volumes,
      ...(opts.initContainers ? { initContainers: opts.initContainers } : {}),
      containers: [opts.container],
    },
  };
}

function programResources(settings: PodSpecSettings): V1ResourceRequirements {
  const r = { cpu: settings.podProgramResources.cpu, memory: settings.podProgramResources.memory };
  return { requests: r, limits: r };
}

/** Kubernetes expands `$(NAME)` in command and args; `$$` keeps a literal `$`. */
export function escapeKubeVars(text: string): string {
  return text.replaceAll('$', () => '$$');
}

const env = (vars: Record<string, string>): V1EnvVar[] =>
  Object.entries(vars).map(([name, value]) => ({ name, value }));

export function buildConfigurePod(job: JobRef, settings: PodSpecSettings): V1Pod {
  const names = jobNames(job.workflow.jobId);
  return pod(job, 'configure', settings, {
    network: true,
    deadlineSeconds: settings.configureDeadlineSeconds,
    volumes: [
      ...baseVolumes(job, settings),
      {
        name: VOLUME.secret,
        secret: { secretName: names.secret, items: [{ key: SECRET_KEY, path: SECRET_KEY }], defaultMode: 0o440 },
      },
      {
        name: VOLUME.workflow,
        configMap: { name: names.configMap, items: [{ key: WORKFLOW_KEY, path: WORKFLOW_KEY }], defaultMode: 0o444 },
      },
    ],
    container: {
      name: 'configure',
      image: settings.podProgramsImage,
      command: ['configure'],
      env: env({
        C2D_DATA_ROOT: CONTAINER_LAYOUT.root,
        C2D_SECRET_FILE: `${SECRET_MOUNT}/${SECRET_KEY}`,
        C2D_WORKFLOW_FILE: `${WORKFLOW_MOUNT}/${WORKFLOW_KEY}`,
        C2D_CONNECT_TIMEOUT_MS: String(settings.download.connectTimeoutMs),
        C2D_TOTAL_TIMEOUT_MS: String(settings.download.totalTimeoutMs),
        C2D_MAX_FILE_BYTES: String(settings.download.maxFileBytes),
        C2D_MAX_TOTAL_BYTES: String(job.workflow.limits.diskMiB * 1024 * 1024),
        ...(settings.download.privateHostsAllowed && {
          C2D_PRIVATE_HOSTS_ALLOWED: settings.download.privateHostsAllowed,
        }),
      }),
      volumeMounts: [
        { name: VOLUME.data, mountPath: CONTAINER_LAYOUT.root },
        { name: VOLUME.tmp, mountPath: '/tmp' },
        { name: VOLUME.secret, mountPath: SECRET_MOUNT, readOnly: true },
        { name: VOLUME.workflow, mountPath: WORKFLOW_MOUNT, readOnly: true },
      ],
      resources: programResources(settings),
      securityContext: containerSecurityContext(settings),
      terminationMessagePolicy: 'FallbackToLogsOnError',
    },
  });
}

/** The image reference of the algorithm: pinned to its digest when the workflow declares one. */
export function algorithmImage(workflow: Workflow): string {
  const c = workflow.algorithm.container;
  return c.checksum ? `${c.image}:${c.tag}@${c.checksum}` : `${c.image}:${c.tag}`;
}

/** The algorithm's command line with `$ALGO` replaced by the algorithm file's path. */
function algorithmCommandLine(workflow: Workflow): string {
  return workflow.algorithm.container.entrypoint.replaceAll('$ALGO', CONTAINER_LAYOUT.algorithm);
}

/**
 * Runs the entrypoint (passed as $1) under /bin/sh, copying its output to $LOGS/algorithm.log while it still
 * reaches the container log, and exits with the entrypoint's own exit code (POSIX sh has no pipefail).
 */
export const ALGORITHM_WRAPPER = [
  'exec 3>&1',
  'rc=$( { { (eval "$1") 2>&1 3>&- 4>&-; echo $? >&4; } | tee -a "$LOGS/algorithm.log" >&3; } 4>&1 )',
  'exit "${rc:-1}"',
].join('\n');

function cpuQuantity(cores: number): string {
  return `${Math.max(1, Math.round(cores * 1000))}m`;
}

/** How long the algorithm pod's init container waits for the pod's NetworkPolicy before failing the pod. */
export const ISOLATION_TIMEOUT_MS = 60_000;

/**
 * The algorithm pod's first container: the await-isolation pod program (engine/pods/await-isolation.ts), which exits
 * 0 only once the pod's NetworkPolicy keeps it from the node (and, without network, from the API server and DNS).
 * A policy enforcer applies a new pod's rules a few seconds after the pod has its address; until then, the
 * algorithm does not start. Never isolated within ISOLATION_TIMEOUT_MS: the pod fails, the algorithm never ran.
 */
function isolationContainer(network: boolean, settings: PodSpecSettings): V1Container {
  return {
    name: 'await-isolation',
    image: settings.podProgramsImage,
    command: ['await-isolation'],
    env: [
      { name: 'C2D_NODE_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
      ...env({ C2D_ISOLATION: network ? 'cluster' : 'all', C2D_ISOLATION_TIMEOUT_MS: String(ISOLATION_TIMEOUT_MS) }),
    ],
    resources: programResources(settings),
    securityContext: containerSecurityContext(settings),
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
}

export function buildAlgorithmPod(job: JobRef, settings: PodSpecSettings): V1Pod {
  const w = job.workflow;
  const limits = { cpu: cpuQuantity(w.limits.cpu), memory: `${w.limits.memoryMiB}Mi` };
  return pod(job, 'algorithm', settings, {
    network: w.allowNetworkAccess,
    deadlineSeconds: w.limits.maxDurationSeconds,
    volumes: baseVolumes(job, settings),
    initContainers: [isolationContainer(w.allowNetworkAccess, settings)],
    container: {
      name: 'algorithm',
      image: algorithmImage(w),
      command: [
        '/bin/sh',
        '-c',
        escapeKubeVars(ALGORITHM_WRAPPER),
        'algorithm',
        escapeKubeVars(algorithmCommandLine(w)),
      ],
      workingDir: CONTAINER_LAYOUT.transformations,
      env: env({
        DIDS: JSON.stringify(w.datasets.map((d) => d.did)),
        TRANSFORMATION_DID: algorithmDid(w) ?? '',
        INPUTS: CONTAINER_LAYOUT.inputs,
        OUTPUTS: CONTAINER_LAYOUT.outputs,
        LOGS: CONTAINER_LAYOUT.logs,
        ALGO: CONTAINER_LAYOUT.algorithm,
        HOME: '/tmp',
      }),
      volumeMounts: [
        { name: VOLUME.data, mountPath: CONTAINER_LAYOUT.root },
        { name: VOLUME.tmp, mountPath: '/tmp' },
      ],
      resources: { requests: limits, limits },
      securityContext: containerSecurityContext(settings),
    },
  });
}

/**
 * A v2 job's own storage target, for its publish pod: the target's ciphertext (the job's output Secret) and the output
 * key, in one read-only volume. Both optional, so that a missing one ends the job with publish's clear reason
 * instead of a pod that never starts.
 */
function outputVolume(job: JobRef, settings: PodSpecSettings): V1Volume {
  return {
    name: VOLUME.output,
    projected: {
      defaultMode: 0o440,
      sources: [
        {
          secret: {
            name: jobNames(job.workflow.jobId).outputSecret,
            items: [{ key: OUTPUT_SECRET_KEY, path: OUTPUT_FILES.target }],
            optional: true,
          },
        },
        {
          secret: {
            name: settings.outputKeySecret,
            items: [{ key: OUTPUT_KEY_SECRET_KEY, path: OUTPUT_FILES.key }],
            optional: true,
          },
        },
      ],
    },
  };
}

/** ocean-node's archive name, `outputs-<cluster>-<jobId>.tar`, with the environment for its cluster. */
export function outputArchiveName(workflow: Workflow): string {
  return `outputs-${workflow.environment}-${workflow.jobId}.tar`;
}

export function buildPublishPod(job: JobRef, settings: PodSpecSettings): V1Pod {
  const storeEnv: V1EnvVar[] = Object.entries(RESULTS_STORE_ENV).map(([name, key]) => ({
    name,
    valueFrom: { secretKeyRef: { name: settings.resultsStoreSecret, key } },
  }));
  const output = job.workflow.outputTarget === true;
  return pod(job, 'publish', settings, {
    network: true,
    deadlineSeconds: settings.publishDeadlineSeconds,
    volumes: [...baseVolumes(job, settings), ...(output ? [outputVolume(job, settings)] : [])],
    container: {
      name: 'publish',
      image: settings.podProgramsImage,
      command: ['publish'],
      env: [
        ...env({
          C2D_DATA_ROOT: CONTAINER_LAYOUT.root,
          C2D_JOB_ID: job.workflow.jobId,
          // Publish uploads no outputs past the job's disk limit: the dev platform's hostPath volumes, like many volume
          // plugins, do not enforce a claim's size, and a sparse file takes no disk at all yet uploads in full.
          C2D_MAX_OUTPUT_BYTES: String(job.workflow.limits.diskMiB * 1024 * 1024),
          ...(output && {
            C2D_OUTPUT_FILE: `${OUTPUT_MOUNT}/${OUTPUT_FILES.target}`,
            C2D_OUTPUT_KEY_FILE: `${OUTPUT_MOUNT}/${OUTPUT_FILES.key}`,
            C2D_OUTPUT_ARCHIVE: outputArchiveName(job.workflow),
            // The target is held to the same address rules as the configure pods' downloads.
            ...(settings.download.privateHostsAllowed && {
              C2D_PRIVATE_HOSTS_ALLOWED: settings.download.privateHostsAllowed,
            }),
          }),
        }),
        ...storeEnv,
      ],
      volumeMounts: [
        { name: VOLUME.data, mountPath: CONTAINER_LAYOUT.root, readOnly: true },
        { name: VOLUME.tmp, mountPath: '/tmp' },
        ...(output ? [{ name: VOLUME.output, mountPath: OUTPUT_MOUNT, readOnly: true }] : []),
      ],
      resources: programResources(settings),
      securityContext: containerSecurityContext(settings),
    },
  });
}
