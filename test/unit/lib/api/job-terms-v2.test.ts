import { describe, expect, it } from 'vitest';
import { requireFreeTier, resolveDuration, resolveJobSize, resourceAmounts } from '../../../../lib/api/job-terms-v2.ts';
import { HttpError } from '../../../../lib/http/errors.ts';
import { environment } from '../../../support/job-fixtures.ts';

const VIEWER = '0x' + 'aa'.repeat(20);
const env = environment({
  cpu: 2,
  memoryMiB: 2048,
  diskMiB: 4096,
  maxJobDurationSeconds: 600,
  minimums: { cpu: 0.5, memoryMiB: 512, diskMiB: 1024 },
  free: {
    cpu: 1,
    memoryMiB: 1024,
    diskMiB: 1024,
    maxJobDurationSeconds: 60,
    maxConcurrentJobs: 1,
    access: { addresses: [VIEWER] },
  },
});

function refusal(f: () => unknown): { status: number; field: string | undefined } {
  try {
    f();
  } catch (err) {
    if (err instanceof HttpError) return { status: err.status, field: err.field };
    throw err;
  }
  throw new Error('not refused');
}

describe('v2 job terms', () => {
  it.each([
    ['nothing asked: the minimums', undefined, 'paid', { cpu: 0.5, memoryMiB: 512, diskMiB: 1024 }],
    [
      'every resource asked',
      [
        { id: 'cpu', amount: 2 },
        { id: 'ram', amount: 1.5 },
        { id: 'disk', amount: 4 },
      ],
      'paid',
      { cpu: 2, memoryMiB: 1536, diskMiB: 4096 },
    ],
    ['the free maximum', [{ id: 'ram', amount: 1 }], 'free', { cpu: 0.5, memoryMiB: 1024, diskMiB: 1024 }],
  ] as const)('sizes a job: %s', (_what, asked, tier, size) => {
    expect(resolveJobSize(env, asked, tier)).toEqual(size);
  });

  it.each([
    ['above the maximum', [{ id: 'cpu', amount: 3 }], 'paid', 'resources.0.amount'],
    ['above the free maximum', [{ id: 'disk', amount: 2 }], 'free', 'resources.0.amount'],
    ['below the minimum', [{ id: 'ram', amount: 0.25 }], 'paid', 'resources.0.amount'],
    [
      'a resource twice',
      [
        { id: 'cpu', amount: 1 },
        { id: 'cpu', amount: 1 },
      ],
      'paid',
      'resources.1.id',
    ],
  ] as const)('refuses %s, naming the field', (_what, asked, tier, field) => {
    expect(refusal(() => resolveJobSize(env, asked, tier))).toEqual({ status: 400, field });
  });

  it('lists a size as ocean-node lists resources', () => {
    expect(resourceAmounts({ cpu: 1, memoryMiB: 512, diskMiB: 2048 })).toEqual([
      { id: 'cpu', amount: 1 },
      { id: 'ram', amount: 0.5 },
      { id: 'disk', amount: 2 },
    ]);
  });

  it("bounds the duration by the tier's maximum", () => {
    expect(resolveDuration(env, undefined, 'paid')).toBe(600);
    expect(resolveDuration(env, undefined, 'free')).toBe(60);
    expect(resolveDuration(env, 30, 'free')).toBe(30);
    expect(refusal(() => resolveDuration(env, 61, 'free'))).toEqual({ status: 400, field: 'maxJobDuration' });
  });

  it('refuses an environment without a free tier, naming the field', () => {
    expect(requireFreeTier(env)).toBe(env.free);
    expect(refusal(() => requireFreeTier(environment()))).toEqual({ status: 400, field: 'environment' });
  });
});
