import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import {
  ALGORITHM_WRAPPER,
  DEFAULT_POD_SPEC_SETTINGS,
  ISOLATION_TIMEOUT_MS,
  algorithmImage,
  buildAlgorithmPod,
  buildConfigurePod,
  buildPublishPod,
  buildPvc,
  buildStagePod,
  escapeKubeVars,
  type JobRef,
} from '../../../engine/pod-specs.ts';
import { LABELS, STAGES } from '../../../lib/job/names.ts';
import { ALGO_DID, DATASET2_DID, DATASET_DID, JOB_ID, OWNER, workflow } from '../../support/job-fixtures.ts';

const S = DEFAULT_POD_SPEC_SETTINGS;
const job = (overrides: Parameters<typeof workflow>[0] = {}): JobRef => ({
  name: `c2d-job-${JOB_ID}`,
  uid: 'cm-uid-1',
  namespace: 'c2d-jobs',
  workflow: workflow(overrides),
});

/** The checks of the PodSecurity `restricted` profile (Kubernetes 1.30), applied to a pod spec. */
function restrictedViolations(pod: V1Pod): string[] {
  const v: string[] = [];
  const spec = pod.spec!;
  if (spec.hostNetwork || spec.hostPID || spec.hostIPC) v.push('host namespaces');
  const allowedVolumes = [
    'configMap',
    'csi',
    'downwardAPI',
    'emptyDir',
    'ephemeral',
    'persistentVolumeClaim',
    'projected',
    'secret',
  ];
  for (const vol of spec.volumes ?? []) {
    const types = Object.keys(vol).filter((k) => k !== 'name');
    if (!types.every((t) => allowedVolumes.includes(t))) v.push(`volume type ${types.join(',')}`);
  }
  const podSc = spec.securityContext ?? {};
  if (podSc.sysctls?.length) v.push('sysctls');
  const podSeccomp = podSc.seccompProfile?.type;
  for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
    const sc = c.securityContext ?? {};
    if (sc.privileged) v.push(`${c.name}: privileged`);
    if (sc.allowPrivilegeEscalation !== false) v.push(`${c.name}: allowPrivilegeEscalation`);
    if (!(sc.capabilities?.drop ?? []).includes('ALL')) v.push(`${c.name}: capabilities not dropped`);
    if ((sc.capabilities?.add ?? []).some((cap) => cap !== 'NET_BIND_SERVICE')) v.push(`${c.name}: capabilities added`);
    if ((sc.runAsNonRoot ?? podSc.runAsNonRoot) !== true) v.push(`${c.name}: runAsNonRoot`);
    if ((sc.runAsUser ?? podSc.runAsUser) === 0) v.push(`${c.name}: runAsUser 0`);
    const seccomp = sc.seccompProfile?.type ?? podSeccomp;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') v.push(`${c.name}: seccomp`);
    if (c.ports?.some((p) => p.hostPort)) v.push(`${c.name}: hostPort`);
    if (sc.procMount && sc.procMount !== 'Default') v.push(`${c.name}: procMount`);
  }
  return v;
}

describe('every pod of the chain', () => {
  it.each(STAGES)('%s passes PodSecurity restricted and is hardened', (stage) => {
    const pod = buildStagePod(stage, job(), S);
    expect(restrictedViolations(pod)).toEqual([]);
    expect(pod.spec!.automountServiceAccountToken).toBe(false);
    expect(pod.spec!.enableServiceLinks).toBe(false);
    expect(pod.spec!.restartPolicy).toBe('Never');
    expect(pod.spec!.containers).toHaveLength(1);
    const sc = pod.spec!.containers[0]!.securityContext!;
    expect(sc.readOnlyRootFilesystem).toBe(true);
    expect(sc.runAsUser).toBe(1000);
    expect(pod.spec!.securityContext!.seccompProfile).toEqual({ type: 'RuntimeDefault' });
  });

  it.each(STAGES)('%s has a deterministic name, the job labels and is owned by the ConfigMap', (stage) => {
    const pod = buildStagePod(stage, job(), S);
    expect(pod.metadata!.name).toBe(`c2d-job-${JOB_ID}-${stage}`);
    expect(pod.metadata!.namespace).toBe('c2d-jobs');
    expect(pod.metadata!.labels).toMatchObject({
      [LABELS.jobId]: JOB_ID,
      [LABELS.owner]: OWNER,
      [LABELS.environment]: 'ocean-compute',
      [LABELS.role]: stage,
    });
    expect(pod.metadata!.ownerReferences).toEqual([
      { apiVersion: 'v1', kind: 'ConfigMap', name: `c2d-job-${JOB_ID}`, uid: 'cm-uid-1', controller: true },
    ]);
    expect(pod).toEqual(buildStagePod(stage, job(), S));
  });

  it.each(STAGES)('%s mounts the job volume at /data and a writable /tmp', (stage) => {
    const pod = buildStagePod(stage, job(), S);
    const mounts = pod.spec!.containers[0]!.volumeMounts!;
    expect(mounts.find((m) => m.mountPath === '/data')?.name).toBe('data');
    expect(mounts.find((m) => m.mountPath === '/tmp')).toBeDefined();
    expect(pod.spec!.volumes!.find((v) => v.name === 'data')?.persistentVolumeClaim?.claimName).toBe(
      `c2d-job-${JOB_ID}-data`,
    );
  });

  it('refuses to build for an owner-less ConfigMap', () => {
    expect(() => buildAlgorithmPod({ ...job(), uid: undefined }, S)).toThrow(/uid/);
  });
});

describe('algorithm pod', () => {
  const pod = buildAlgorithmPod(job(), S);
  const c = pod.spec!.containers[0]!;

  it('gets Ocean environment variables and no secrets', () => {
    expect(c.env).toEqual([
      { name: 'DIDS', value: JSON.stringify([DATASET_DID, DATASET2_DID]) },
      { name: 'TRANSFORMATION_DID', value: ALGO_DID },
      { name: 'INPUTS', value: '/data/inputs' },
      { name: 'OUTPUTS', value: '/data/outputs' },
      { name: 'LOGS', value: '/data/logs' },
      { name: 'ALGO', value: '/data/transformations/algorithm' },
      { name: 'HOME', value: '/tmp' },
    ]);
    expect(c.envFrom).toBeUndefined();
    expect(pod.spec!.volumes!.some((v) => v.secret || v.configMap || v.projected)).toBe(false);
  });

  it('has an empty TRANSFORMATION_DID for a raw algorithm', () => {
    const raw = buildAlgorithmPod(
      job({
        algorithm: {
          kind: 'raw',
          source: 'rawcode',
          container: { image: 'python', tag: '3.11', entrypoint: 'python $ALGO' },
        },
      }),
      S,
    );
    expect(raw.spec!.containers[0]!.env!.find((e) => e.name === 'TRANSFORMATION_DID')?.value).toBe('');
  });

  it("has the job's limits as requests and limits, and its max duration as deadline", () => {
    expect(c.resources).toEqual({
      requests: { cpu: '500m', memory: '256Mi' },
      limits: { cpu: '500m', memory: '256Mi' },
    });
    expect(pod.spec!.activeDeadlineSeconds).toBe(60);
  });

  it('is cut from the network unless the workflow allows it', () => {
    expect(pod.metadata!.labels![LABELS.network]).toBeUndefined();
    expect(buildAlgorithmPod(job({ allowNetworkAccess: true }), S).metadata!.labels![LABELS.network]).toBe('allow');
  });

  it('runs the entrypoint with $ALGO replaced, escaped against Kubernetes variable expansion', () => {
    expect(c.command).toEqual([
      '/bin/sh',
      '-c',
      escapeKubeVars(ALGORITHM_WRAPPER),
      'algorithm',
      'node /data/transformations/algorithm',
    ]);
    const tricky = buildAlgorithmPod(
      job({
        algorithm: {
          kind: 'raw',
          source: 'url',
          container: { image: 'node', tag: '20', entrypoint: 'node $ALGO $(HOME) $$' },
        },
      }),
      S,
    );
    expect(tricky.spec!.containers[0]!.command![4]).toBe('node /data/transformations/algorithm $$(HOME) $$$$');
  });

  it('starts the algorithm only after an init container has seen its network policy in force', () => {
    const [init, ...more] = pod.spec!.initContainers!;
    expect(more).toEqual([]);
    expect(init).toMatchObject({
      name: 'await-isolation',
      image: S.podProgramsImage,
      command: ['await-isolation'],
      securityContext: c.securityContext,
    });
    expect(init!.volumeMounts).toBeUndefined();
    const env = Object.fromEntries(init!.env!.map((e) => [e.name, e.value ?? e.valueFrom]));
    expect(env).toEqual({
      C2D_NODE_IP: { fieldRef: { fieldPath: 'status.hostIP' } },
      C2D_ISOLATION: 'all',
      C2D_ISOLATION_TIMEOUT_MS: String(ISOLATION_TIMEOUT_MS),
    });
    const networked = buildAlgorithmPod(job({ allowNetworkAccess: true }), S).spec!.initContainers![0]!;
    expect(networked.env).toContainEqual({ name: 'C2D_ISOLATION', value: 'cluster' });
  });

  it('is the only pod with an init container', () => {
    expect(buildConfigurePod(job(), S).spec!.initContainers).toBeUndefined();
    expect(buildPublishPod(job(), S).spec!.initContainers).toBeUndefined();
  });

  it('uses image:tag, pinned to the digest when one is declared', () => {
    expect(c.image).toBe('node:20');
    const digest = 'sha256:' + 'e'.repeat(64);
    const w = workflow({
      algorithm: {
        kind: 'raw',
        source: 'rawcode',
        container: { image: 'ghcr.io/x/algo', tag: 'v1', entrypoint: 'x', checksum: digest },
      },
    });
    expect(algorithmImage(w)).toBe(`ghcr.io/x/algo:v1@${digest}`);
  });
});

describe('configure pod', () => {
  const pod = buildConfigurePod(job(), S);
  const c = pod.spec!.containers[0]!;

  it('runs the configure pod program with network', () => {
    expect(c.image).toBe('c2d/pod-programs:0.1.0');
    expect(c.command).toEqual(['configure']);
    expect(pod.metadata!.labels![LABELS.network]).toBe('allow');
    expect(pod.spec!.activeDeadlineSeconds).toBe(S.configureDeadlineSeconds);
  });

  it('mounts the job Secret read-only at /secrets/job and the workflow alone from the ConfigMap', () => {
    expect(c.volumeMounts).toContainEqual({ name: 'job-secret', mountPath: '/secrets/job', readOnly: true });
    expect(pod.spec!.volumes).toContainEqual({
      name: 'job-secret',
      secret: {
        secretName: `c2d-job-${JOB_ID}-secret`,
        items: [{ key: 'job.json', path: 'job.json' }],
        defaultMode: 0o440,
      },
    });
    expect(pod.spec!.volumes).toContainEqual({
      name: 'workflow',
      configMap: {
        name: `c2d-job-${JOB_ID}`,
        items: [{ key: 'workflow.json', path: 'workflow.json' }],
        defaultMode: 0o444,
      },
    });
  });

  it('gets its limits by env, the volume size as total cap', () => {
    const env = Object.fromEntries(c.env!.map((e) => [e.name, e.value]));
    expect(env).toMatchObject({
      C2D_DATA_ROOT: '/data',
      C2D_SECRET_FILE: '/secrets/job/job.json',
      C2D_WORKFLOW_FILE: '/workflow/workflow.json',
      C2D_MAX_TOTAL_BYTES: String(1024 * 1024 * 1024),
    });
    expect(c.env!.every((e) => e.valueFrom === undefined)).toBe(true);
  });

  it('uses the image it is given', () => {
    expect(
      buildConfigurePod(job(), { ...S, podProgramsImage: 'registry.local/c2d/pod-programs:9' }).spec!.containers[0]!
        .image,
    ).toBe('registry.local/c2d/pod-programs:9');
  });

  it('is allowed no internal address unless the engine is told some', () => {
    const names = (p: typeof pod) => p.spec!.containers[0]!.env!.map((e) => e.name);
    expect(names(pod)).not.toContain('C2D_PRIVATE_HOSTS_ALLOWED');
    const allowing = buildConfigurePod(job(), {
      ...S,
      download: { ...S.download, privateHostsAllowed: '10.0.0.5:443' },
    });
    expect(allowing.spec!.containers[0]!.env).toContainEqual({
      name: 'C2D_PRIVATE_HOSTS_ALLOWED',
      value: '10.0.0.5:443',
    });
  });
});

describe('publish pod', () => {
  const pod = buildPublishPod(job(), S);
  const c = pod.spec!.containers[0]!;

  it('reads the store settings from the Secret by reference only', () => {
    const store = c.env!.filter((e) => e.name.startsWith('S3_'));
    expect(store.map((e) => e.name).sort()).toEqual([
      'S3_ACCESS_KEY_ID',
      'S3_BUCKET',
      'S3_ENDPOINT',
      'S3_REGION',
      'S3_SECRET_ACCESS_KEY',
    ]);
    for (const e of store) {
      expect(e.value).toBeUndefined();
      expect(e.valueFrom?.secretKeyRef?.name).toBe('c2d-results-store');
    }
    expect(c.env).toContainEqual({ name: 'C2D_JOB_ID', value: JOB_ID });
  });

  it("tells the publish program the job's disk limit, which bounds what it uploads", () => {
    expect(c.env).toContainEqual({ name: 'C2D_MAX_OUTPUT_BYTES', value: String(1024 * 1024 * 1024) });
  });

  it('mounts /data read-only and runs the publish program', () => {
    expect(c.command).toEqual(['publish']);
    expect(c.volumeMounts).toContainEqual({ name: 'data', mountPath: '/data', readOnly: true });
    expect(pod.spec!.activeDeadlineSeconds).toBe(S.publishDeadlineSeconds);
    expect(pod.spec!.volumes!.some((v) => v.secret)).toBe(false);
  });
});

describe('publish pod of a job with its own output target', () => {
  const settings = { ...S, download: { ...S.download, privateHostsAllowed: '10.0.0.5:443' } };
  const pod = buildPublishPod(job({ outputTarget: true, environment: 'small' }), settings);
  const c = pod.spec!.containers[0]!;

  it('mounts the target and the output key read-only, both optional, and nothing of them into env', () => {
    expect(pod.spec!.volumes).toContainEqual({
      name: 'output',
      projected: {
        defaultMode: 0o440,
        sources: [
          {
            secret: {
              name: `c2d-job-${JOB_ID}-output`,
              items: [{ key: 'output.hex', path: 'output.hex' }],
              optional: true,
            },
          },
          { secret: { name: 'c2d-output-key', items: [{ key: 'privateKey', path: 'output.key' }], optional: true } },
        ],
      },
    });
    expect(c.volumeMounts).toContainEqual({ name: 'output', mountPath: '/secrets/output', readOnly: true });
    expect(c.env).toEqual(
      expect.arrayContaining([
        { name: 'C2D_OUTPUT_FILE', value: '/secrets/output/output.hex' },
        { name: 'C2D_OUTPUT_KEY_FILE', value: '/secrets/output/output.key' },
        { name: 'C2D_OUTPUT_ARCHIVE', value: `outputs-small-${JOB_ID}.tar` },
        { name: 'C2D_PRIVATE_HOSTS_ALLOWED', value: '10.0.0.5:443' },
      ]),
    );
    expect(restrictedViolations(pod)).toEqual([]);
  });

  it('is never given to the other pods, nor to the publish pod of a job without a target', () => {
    for (const stage of STAGES) {
      const p = buildStagePod(stage, job({ outputTarget: stage === 'publish' ? undefined : true }), settings);
      expect(JSON.stringify(p)).not.toMatch(/c2d-output-key|-output"|C2D_OUTPUT/);
    }
  });
});

describe('volume claim', () => {
  it("asks for the job's disk, owned by the ConfigMap", () => {
    const pvc = buildPvc(job(), { ...S, storageClassName: 'local' });
    expect(pvc.metadata!.name).toBe(`c2d-job-${JOB_ID}-data`);
    expect(pvc.metadata!.labels![LABELS.role]).toBe('data');
    expect(pvc.spec).toEqual({
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: '1024Mi' } },
      storageClassName: 'local',
    });
    expect(pvc.metadata!.ownerReferences![0]!.uid).toBe('cm-uid-1');
  });
});
