import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { registerV2 } from '../../../functions/initialize/v2.ts';
import type { EnvironmentSource } from '../../../lib/api/environments.ts';
import { createFunctionApp } from '../../../lib/http/app.ts';
import { silentLogger } from '../../support/silent-logger.ts';

const CIPHERTEXT = '04' + 'ab'.repeat(64) + '11'.repeat(40);
const body = {
  datasets: [{ documentId: 'did:op:' + 'a1'.repeat(32), serviceId: 'compute' }],
  algorithm: { documentId: 'did:op:' + 'b2'.repeat(32), serviceId: 'access' },
  environment: 'small',
  payment: { chainId: 8996, token: '0x' + '0c'.repeat(20) },
  consumerAddress: '0x' + 'cc'.repeat(20),
  output: CIPHERTEXT,
};

function app(outputTargets: boolean): { app: Hono; asked: string[] } {
  const asked: string[] = [];
  const a = createFunctionApp({ name: 'initialize', logger: silentLogger });
  registerV2(a, {
    chainId: 8996,
    environments: {} as EnvironmentSource,
    quote: async () => {
      asked.push('quote');
      throw new Error('not reached in these tests');
    },
    escrow: undefined,
    outputTargets,
  });
  return { app: a, asked };
}

describe('v2 initializeCompute with an output target', () => {
  it('refuses `output` where the provider has no output key, as start would, before any check', async () => {
    const h = app(false);
    const res = await h.app.request('/v2/api/services/initializeCompute', {
      method: 'POST',
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ field: 'output', error: expect.stringContaining('no output key') });
    expect(h.asked).toEqual([]);
  });

  it('checks only its shape otherwise (it cannot decrypt it)', async () => {
    const h = app(true);
    const bad = await h.app.request('/v2/api/services/initializeCompute', {
      method: 'POST',
      body: JSON.stringify({ ...body, output: 'zz' }),
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ field: 'output' });
  });
});
