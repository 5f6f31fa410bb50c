import { getAddress } from 'ethers';
import { describe, expect, it } from 'vitest';
import { jobLoads, toV2Environment } from '../../../../lib/api/environments-v2.ts';
import { buildJobConfigMap } from '../../../../lib/job/configmap.ts';
import { parseEnvironments } from '../../../../lib/job/environments.ts';
import { StatusCode } from '../../../../lib/job/status.ts';
import { environment, jobConfigMap, nthJobId, status, workflow, CREATED } from '../../../support/job-fixtures.ts';

const OCEAN = '0x' + '0c'.repeat(20);
const env = environment({
  cpu: 2,
  memoryMiB: 2048,
  diskMiB: 4096,
  maxConcurrentJobs: 3,
  minimums: { cpu: 0.5, memoryMiB: 512, diskMiB: 1024 },
  escrowFees: {
    '8996': [
      {
        feeToken: OCEAN,
        prices: [
          { id: 'cpu', price: 1 },
          { id: 'ram', price: 0.5 },
        ],
      },
    ],
  },
  free: {
    cpu: 1,
    memoryMiB: 1024,
    diskMiB: 1024,
    maxJobDurationSeconds: 30,
    maxConcurrentJobs: 1,
    access: { addresses: ['0x' + 'aa'.repeat(20)] },
  },
});

function freeJob(n: number, code: StatusCode, size = { cpu: 1, memoryMiB: 1024, diskMiB: 1024 }) {
  const created = new Date(Date.parse(CREATED) + n * 1000);
  return buildJobConfigMap(
    workflow({
      jobId: nthJobId(n),
      environment: env.id,
      billing: 'free',
      limits: { maxDurationSeconds: 30, ...size },
    }),
    status(code, created),
  );
}

describe('v2 compute environments', () => {
  it("count what each unfinished job holds, by ocean-node's units, leaving finished and queued jobs out of use", () => {
    const loads = jobLoads([
      jobConfigMap(1, StatusCode.RunningAlgorithm, { environment: env.id }),
      jobConfigMap(2, StatusCode.WarmingUp, { environment: env.id }),
      jobConfigMap(3, StatusCode.JobFinished, { environment: env.id }),
      freeJob(4, StatusCode.ConfiguringVolumes),
      freeJob(5, StatusCode.WarmingUp),
      { metadata: { name: 'broken' }, data: {} },
    ]);
    const v2 = toV2Environment(env, 8996, loads);
    expect(v2).toMatchObject({
      id: env.id,
      consumerAddress: env.consumerAddress,
      maxJobDuration: env.maxJobDurationSeconds,
      maxJobs: 3,
      runningJobs: 2,
      runningfreeJobs: 1,
      queuedJobs: 2,
      queuedFreeJobs: 1,
      fees: {
        8996: [
          {
            feeToken: OCEAN,
            prices: [
              { id: 'cpu', price: 1 },
              { id: 'ram', price: 0.5 },
            ],
          },
        ],
      },
      access: { addresses: [], accessLists: null },
    });
    // The fixture's workflow holds 0.5 cpu, 256 MiB, 1024 MiB; the free job 1 cpu, 1 GiB, 1 GiB.
    expect(v2.resources).toEqual([
      { id: 'cpu', type: 'cpu', kind: 'cpu', total: 6, min: 0.5, max: 2, inUse: 1.5 },
      { id: 'ram', type: 'ram', kind: 'ram', total: 6, min: 0.5, max: 2, inUse: 1.25 },
      { id: 'disk', type: 'disk', kind: 'disk', total: 12, min: 1, max: 4, inUse: 2 },
    ]);
    expect(v2.free).toEqual({
      storageExpiry: env.storageExpirySeconds,
      maxJobDuration: 30,
      maxJobs: 1,
      resources: [
        { id: 'cpu', type: 'cpu', kind: 'cpu', total: 1, min: 0.5, max: 1, inUse: 1 },
        { id: 'ram', type: 'ram', kind: 'ram', total: 1, min: 0.5, max: 1, inUse: 1 },
        { id: 'disk', type: 'disk', kind: 'disk', total: 1, min: 1, max: 1, inUse: 1 },
      ],
      access: { addresses: ['0x' + 'aa'.repeat(20)], accessLists: null },
    });
  });

  it("serve the environment's and the free tier's access lists in ocean-node's shape", () => {
    const list = '0x' + 'Ab'.repeat(20);
    const [listed] = parseEnvironments([
      {
        ...env,
        fees: [],
        access: { addresses: [], accessLists: [{ '8996': [list.toLowerCase()] }] },
        free: { ...env.free!, access: { addresses: [], accessLists: [{ '8996': [list.toLowerCase()] }] } },
      },
    ]);
    const v2 = toV2Environment(listed!, 8996, []);
    const checksummed = getAddress(list.toLowerCase());
    expect(v2.access).toEqual({ addresses: [], accessLists: [{ '8996': [checksummed] }] });
    expect(v2.free!.access).toEqual({ addresses: [], accessLists: [{ '8996': [checksummed] }] });
  });

  it('list no fees for a chain the environment does not price, and no free tier where it has none', () => {
    const plain = environment();
    const v2 = toV2Environment(plain, 1, []);
    expect(v2.fees).toEqual({ 1: [] });
    expect(v2).not.toHaveProperty('free');
    // Without minimums, every job is the environment's size.
    expect(v2.resources[0]).toMatchObject({ min: plain.cpu, max: plain.cpu });
  });

  it('come from environment definitions whose minimums and free tier fit the environment', () => {
    const ok = { ...env, fees: [] };
    expect(() => parseEnvironments([ok])).not.toThrow();
    expect(() => parseEnvironments([{ ...ok, minimums: { cpu: 4, memoryMiB: 512, diskMiB: 1024 } }])).toThrow(
      /minimums must not exceed/,
    );
    expect(() => parseEnvironments([{ ...ok, free: { ...env.free!, memoryMiB: 4096 } }])).toThrow(
      /must not exceed the environment's/,
    );
    expect(() => parseEnvironments([{ ...ok, free: { ...env.free!, cpu: 0.25 } }])).toThrow(/below the minimums/);
    expect(() =>
      parseEnvironments([
        {
          ...ok,
          escrowFees: {
            '8996': [
              {
                feeToken: OCEAN,
                prices: [
                  { id: 'cpu', price: 1 },
                  { id: 'cpu', price: 2 },
                ],
              },
            ],
          },
        },
      ]),
    ).toThrow(/each resource once/);
  });
});
