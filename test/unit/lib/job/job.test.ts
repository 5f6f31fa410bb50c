import { describe, expect, it } from 'vitest';
import {
  InvalidJobConfigMap,
  STOP_ANNOTATION,
  buildJobConfigMap,
  ownerReferenceTo,
  readJobConfigMap,
  statusPatch,
  stopRequestPatch,
} from '../../../../lib/job/configmap.ts';
import {
  ENVIRONMENTS_KEY,
  environmentsFromConfigMap,
  environmentsToConfigMapData,
  findEnvironment,
  parseEnvironments,
} from '../../../../lib/job/environments.ts';
import {
  ALL_JOB_OBJECTS_SELECTOR,
  LABELS,
  assertJobId,
  isJobId,
  jobIdFromName,
  jobLabels,
  jobNames,
  jobSelector,
  newJobId,
} from '../../../../lib/job/names.ts';
import { resultObjectKey } from '../../../../lib/job/results-store.ts';
import { SECRET_KEY, buildJobSecret, parseJobSecretFile } from '../../../../lib/job/secret.ts';
import {
  FINAL_CODES,
  STATUS_TEXT,
  StatusCode,
  TERMINATION_CODE,
  initialStatus,
  isFinal,
  parseStatusJson,
  serializeStatus,
} from '../../../../lib/job/status.ts';
import {
  additionalDatasets,
  algorithmDid,
  parseJobSecretData,
  parseWorkflow,
  primaryDataset,
  secretMismatches,
  workflowSchema,
} from '../../../../lib/job/workflow.ts';
import {
  DATASET2_DID,
  DATASET_DID,
  JOB_ID,
  OWNER,
  environment,
  secretData,
  workflow,
} from '../../../support/job-fixtures.ts';

describe('names', () => {
  it('generates random 32-hex job ids', () => {
    const ids = new Set(Array.from({ length: 100 }, newJobId));
    expect(ids.size).toBe(100);
    for (const id of ids) expect(isJobId(id)).toBe(true);
  });

  it.each([
    '',
    'ABCDEF0123456789abcdef0123456789',
    '0123456789abcdef0123456789abcde',
    '../x',
    'c2d-job-x',
    '0123456789abcdef0123456789abcdef\n',
  ])('refuses %j as a job id', (bad) => {
    expect(isJobId(bad)).toBe(false);
    expect(() => assertJobId(bad)).toThrow();
  });

  it('derives deterministic, DNS-safe names for every object', () => {
    const n = jobNames(JOB_ID);
    expect(n).toEqual({
      configMap: `c2d-job-${JOB_ID}`,
      secret: `c2d-job-${JOB_ID}-secret`,
      outputSecret: `c2d-job-${JOB_ID}-output`,
      pvc: `c2d-job-${JOB_ID}-data`,
      pods: {
        configure: `c2d-job-${JOB_ID}-configure`,
        algorithm: `c2d-job-${JOB_ID}-algorithm`,
        publish: `c2d-job-${JOB_ID}-publish`,
      },
    });
    for (const name of [n.configMap, n.secret, n.outputSecret, n.pvc, ...Object.values(n.pods)]) {
      expect(name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      expect(name.length).toBeLessThanOrEqual(63);
      expect(jobIdFromName(name)).toBe(JOB_ID);
    }
    expect(jobIdFromName('c2d-job-nothex')).toBeUndefined();
  });

  it('labels only with validated values', () => {
    expect(jobLabels({ jobId: JOB_ID, owner: OWNER, environment: 'ocean-compute' }, 'algorithm')).toEqual({
      'app.kubernetes.io/managed-by': 'c2d-engine',
      [LABELS.jobId]: JOB_ID,
      [LABELS.owner]: OWNER,
      [LABELS.environment]: 'ocean-compute',
      [LABELS.role]: 'algorithm',
    });
    expect(() => jobLabels({ jobId: JOB_ID, owner: OWNER.toUpperCase(), environment: 'e' }, 'workflow')).toThrow();
    expect(() => jobLabels({ jobId: JOB_ID, owner: OWNER, environment: 'Bad_Env' }, 'workflow')).toThrow();
    expect(() => jobSelector('workflow', { owner: 'x,role=secret' })).toThrow();
    expect(jobSelector('workflow', { owner: OWNER })).toBe(
      `app.kubernetes.io/managed-by=c2d-engine,${LABELS.role}=workflow,${LABELS.owner}=${OWNER}`,
    );
    expect(ALL_JOB_OBJECTS_SELECTOR).toContain(LABELS.jobId);
  });
});

describe('workflow', () => {
  it('accepts a full workflow and exposes its parts', () => {
    const w = parseWorkflow(workflow());
    expect(primaryDataset(w).did).toBe(DATASET_DID);
    expect(additionalDatasets(w).map((d) => d.did)).toEqual([DATASET2_DID]);
    expect(algorithmDid(w)).toBeDefined();
    expect(
      algorithmDid(
        workflow({
          algorithm: {
            kind: 'raw',
            source: 'rawcode',
            container: { image: 'python', tag: '3', entrypoint: 'python $ALGO' },
          },
        }),
      ),
    ).toBeUndefined();
  });

  it.each([
    ['an upper-case owner', { owner: OWNER.toUpperCase().replace('0X', '0x') }],
    [
      'a bad DID',
      { datasets: [{ did: 'did:op:xyz', serviceId: 's', transferTxId: '0x' + '1'.repeat(64), files: [{ index: 0 }] }] },
    ],
    ['no datasets', { datasets: [] }],
    ['a repeated dataset', { datasets: [workflow().datasets[0]!, workflow().datasets[0]!] }],
    ['files out of order', { datasets: [{ ...workflow().datasets[0]!, files: [{ index: 1 }] }] }],
    [
      'an image with a tag in its name',
      { algorithm: { kind: 'raw', source: 'rawcode', container: { image: 'node:20', tag: '20', entrypoint: 'x' } } },
    ],
    ['a zero duration', { limits: { maxDurationSeconds: 0, cpu: 1, memoryMiB: 64, diskMiB: 1 } }],
    ['an unknown field', { url: 'https://x' }],
    [
      'a file URL in the workflow',
      { datasets: [{ ...workflow().datasets[0]!, files: [{ index: 0, url: 'https://x' }] }] },
    ],
    ['another version', { version: 2 }],
  ])('refuses %s', (_what, patch) => {
    expect(workflowSchema.safeParse({ ...workflow(), ...patch }).success).toBe(false);
  });

  it('checks that the Secret fits the workflow', () => {
    expect(secretMismatches(workflow(), secretData())).toEqual([]);
    const s = secretData();
    s.datasets[DATASET_DID] = s.datasets[DATASET_DID]!.slice(0, 1);
    expect(secretMismatches(workflow(), s)).toEqual([
      `dataset ${DATASET_DID} declares 2 files but 1 locations are given`,
    ]);
  });

  it('secret payload: http(s) URLs only, headers by token name', () => {
    expect(() => parseJobSecretData(secretData())).not.toThrow();
    const bad = secretData();
    bad.datasets[DATASET_DID]![0]!.url = 'file:///etc/passwd';
    expect(() => parseJobSecretData(bad)).toThrow();
    const badHeader = secretData();
    badHeader.datasets[DATASET_DID]![0]!.headers = { 'bad header': 'x' };
    expect(() => parseJobSecretData(badHeader)).toThrow();
  });
});

describe('status', () => {
  it("has Ocean's codes and texts plus distinguishable stopped, timed out and infrastructure failed", () => {
    expect(STATUS_TEXT[StatusCode.JobFinished]).toBe('Job finished');
    expect(STATUS_TEXT[StatusCode.DataProvisioningFailed]).toBe('Data provisioning failed');
    expect(STATUS_TEXT[StatusCode.JobStopped]).toBe('Job stopped');
    expect(STATUS_TEXT[StatusCode.JobTimedOut]).toBe('Job timed out');
    expect([...FINAL_CODES].sort((a, b) => a - b)).toEqual([31, 32, 41, 42, 62, 70, 71, 72, 73]);
    expect(STATUS_TEXT[StatusCode.InfrastructureFailed]).toBe('Infrastructure failed');
    expect(isFinal(60)).toBe(false);
    expect(new Set(Object.values(TERMINATION_CODE)).size).toBe(Object.keys(TERMINATION_CODE).length);
  });

  it('round-trips through the ConfigMap form and refuses unknown codes', () => {
    const s = initialStatus(new Date('2025-01-01T00:00:00Z'));
    expect(parseStatusJson(serializeStatus(s))).toEqual(s);
    expect(() => parseStatusJson(JSON.stringify({ ...s, code: 50 }))).toThrow();
  });
});

describe('job ConfigMap', () => {
  const w = workflow();
  const cm = {
    ...buildJobConfigMap(w, initialStatus(new Date()), 'jobs'),
    metadata: { ...buildJobConfigMap(w, initialStatus(new Date()), 'jobs').metadata, uid: 'u1', resourceVersion: '7' },
  };

  it('round-trips workflow and status, labelled for selection', () => {
    const read = readJobConfigMap(cm);
    expect(read.workflow).toEqual(w);
    expect(read.status.code).toBe(1);
    expect(read.stopRequestedAt).toBeUndefined();
    expect(read.resourceVersion).toBe('7');
    expect(cm.metadata.labels?.[LABELS.role]).toBe('workflow');
    expect(cm.metadata.name).toBe(`c2d-job-${JOB_ID}`);
  });

  it('reads the stop mark', () => {
    const stopped = {
      ...cm,
      metadata: {
        ...cm.metadata,
        ...(stopRequestPatch(new Date('2025-01-01T00:00:00Z')) as { metadata: object }).metadata,
      },
    };
    expect(readJobConfigMap(stopped).stopRequestedAt).toBe('2025-01-01T00:00:00.000Z');
    expect(stopRequestPatch(new Date(0))).toEqual({
      metadata: { annotations: { [STOP_ANNOTATION]: '1970-01-01T00:00:00.000Z' } },
    });
  });

  it('guards status writes with the resourceVersion', () => {
    expect(statusPatch(initialStatus(new Date(0)), '7')).toMatchObject({ metadata: { resourceVersion: '7' } });
  });

  it('refuses malformed or mismatched content', () => {
    expect(() => readJobConfigMap({ metadata: { name: 'x' }, data: {} })).toThrow(InvalidJobConfigMap);
    expect(() => readJobConfigMap({ ...cm, metadata: { ...cm.metadata, name: 'c2d-job-' + 'f'.repeat(32) } })).toThrow(
      /does not match/,
    );
    expect(() => readJobConfigMap({ ...cm, data: { ...cm.data, 'status.json': '{' } })).toThrow(InvalidJobConfigMap);
  });

  it('owner references need the uid', () => {
    expect(ownerReferenceTo({ name: 'n', uid: 'u' })).toEqual({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      name: 'n',
      uid: 'u',
      controller: true,
    });
    expect(() => ownerReferenceTo({ name: 'n', uid: undefined })).toThrow();
  });
});

describe('job Secret', () => {
  it('holds the payload as one JSON key, owned by the ConfigMap', () => {
    const s = buildJobSecret(workflow(), secretData(), { name: `c2d-job-${JOB_ID}`, uid: 'u1' }, 'jobs');
    expect(s.metadata!.name).toBe(`c2d-job-${JOB_ID}-secret`);
    expect(s.metadata!.labels![LABELS.role]).toBe('secret');
    expect(s.metadata!.ownerReferences![0]!.uid).toBe('u1');
    expect(parseJobSecretFile(s.stringData![SECRET_KEY]!)).toEqual(secretData());
  });
});

describe('environments', () => {
  it('parses the ConfigMap list and finds by id', () => {
    const data = environmentsToConfigMapData([environment({ consumerAddress: OWNER })]);
    const envs = environmentsFromConfigMap({ data });
    expect(findEnvironment(envs, 'ocean-compute')?.maxConcurrentJobs).toBe(2);
    expect(findEnvironment(envs, 'nope')).toBeUndefined();
    expect(environmentsFromConfigMap({ data: {} })).toEqual([]);
    expect(() => environmentsFromConfigMap({ data: { [ENVIRONMENTS_KEY]: '[{"id":"x"}]' } })).toThrow();
  });

  it('lower-cases addresses and refuses duplicate ids', () => {
    const [e] = parseEnvironments([
      {
        ...environment(),
        consumerAddress: OWNER.toUpperCase().replace('0X', '0x'),
        fees: [{ chainId: 8996, feeToken: '0x' + 'A'.repeat(40), pricePerMinute: '5' }],
      },
    ]);
    expect(e!.consumerAddress).toBe(OWNER);
    expect(e!.fees[0]!.feeToken).toBe('0x' + 'a'.repeat(40));
    expect(() => parseEnvironments([environment(), environment()])).toThrow();
  });
});

describe('result keys', () => {
  it('separate outputs from logs and refuse climbing paths', () => {
    expect(resultObjectKey(JOB_ID, 'output', 'a/b.txt')).toBe(`${JOB_ID}/outputs/a/b.txt`);
    expect(resultObjectKey(JOB_ID, 'algorithmLog', 'algorithm.log')).toBe(`${JOB_ID}/logs/algorithm.log`);
    expect(() => resultObjectKey(JOB_ID, 'output', '../x')).toThrow();
    expect(() => resultObjectKey(JOB_ID, 'output', 'a//b')).toThrow();
  });
});
