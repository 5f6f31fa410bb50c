import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { AccessDenied, ChainUnavailable } from '../../../../lib/access/errors.ts';
import { erc721Factory } from '../../../../lib/access/contracts.ts';
import { callView, createChainProvider, rpc } from '../../../../lib/access/rpc.ts';
import { toHttpError } from '../../../../lib/http/errors.ts';

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('rpc', () => {
  it('turns a hang into ChainUnavailable after the timeout', async () => {
    const started = Date.now();
    const err = await rpc('eth_call', () => new Promise(() => {}), 50).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChainUnavailable);
    expect(err).toMatchObject({ httpStatus: 503, code: 'CHAIN_UNAVAILABLE' });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('turns an unreachable RPC into ChainUnavailable, not a hang', async () => {
    const provider = createChainProvider(`http://127.0.0.1:${await closedPort()}`, 8996);
    try {
      const err = await callView(
        provider,
        '0x' + '1'.repeat(40),
        erc721Factory,
        'erc20List',
        ['0x' + '2'.repeat(40)],
        3000,
      ).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ChainUnavailable);
    } finally {
      provider.destroy();
    }
  });
});

describe('error mapping', () => {
  it('carries the status the HTTP layer answers with', () => {
    expect(toHttpError(new AccessDenied('ORDER_WRONG_CONSUMER', 'x')).status).toBe(403);
    expect(toHttpError(new AccessDenied('DID_MALFORMED', 'x')).status).toBe(400);
    expect(toHttpError(new ChainUnavailable('x')).status).toBe(503);
    expect(toHttpError(new AccessDenied('TX_ID_MALFORMED', 'x')).status).toBe(400);
  });
});
