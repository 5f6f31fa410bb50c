import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  awaitIsolation,
  isolationTargets,
  KUBELET_PORT,
  nameservers,
  reaches,
  runAwaitIsolation,
  type Target,
} from '../../../../engine/pods/await-isolation.ts';

const RESOLV = 'search c2d-jobs.svc.cluster.local svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n';
const API = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };

describe('isolationTargets', () => {
  it('without network: the node, the API server and every cluster DNS server', () => {
    expect(isolationTargets({ C2D_ISOLATION: 'all', C2D_NODE_IP: '10.200.0.2', ...API }, RESOLV)).toEqual([
      { name: 'the node (kubelet)', host: '10.200.0.2', port: KUBELET_PORT },
      { name: 'the API server', host: '10.96.0.1', port: 443 },
      { name: 'DNS 10.96.0.10', host: '10.96.0.10', port: 53 },
    ]);
  });

  it('with network: the node only (DNS is allowed, the API server may be on an allowed public address)', () => {
    expect(isolationTargets({ C2D_ISOLATION: 'cluster', C2D_NODE_IP: '10.200.0.2', ...API }, RESOLV)).toEqual([
      { name: 'the node (kubelet)', host: '10.200.0.2', port: KUBELET_PORT },
    ]);
  });

  it('skips the API server when kubelet gave no address for it', () => {
    expect(isolationTargets({ C2D_ISOLATION: 'all', C2D_NODE_IP: '127.0.0.1' }, '').map((t) => t.name)).toEqual([
      'the node (kubelet)',
    ]);
  });

  it('names the variable that is missing or wrong', () => {
    expect(() => isolationTargets({ C2D_ISOLATION: 'all' }, '')).toThrow(/C2D_NODE_IP is not set/);
    expect(() => isolationTargets({ C2D_NODE_IP: '10.0.0.1' }, '')).toThrow(/C2D_ISOLATION is not set/);
    expect(() => isolationTargets({ C2D_ISOLATION: 'some', C2D_NODE_IP: '10.0.0.1' }, '')).toThrow(
      /C2D_ISOLATION must be "all" or "cluster"/,
    );
  });

  it('reads nameservers, ignoring comments and other lines', () => {
    expect(nameservers('# nameserver 1.1.1.1\nnameserver 10.0.0.10\n  nameserver fd00::a\nsearch x\n')).toEqual([
      '10.0.0.10',
      'fd00::a',
    ]);
  });
});

describe('awaitIsolation', () => {
  const targets: Target[] = [
    { name: 'a', host: 'a', port: 1 },
    { name: 'b', host: 'b', port: 2 },
  ];
  const clock = () => {
    let t = 0;
    return { now: () => t, sleep: async (ms: number) => void (t += ms) };
  };

  it('returns once no target answers, counting the rounds', async () => {
    const answering = new Map([
      ['a', 2],
      ['b', 3],
    ]);
    const probe = async (t: Target) => {
      const left = answering.get(t.name)!;
      answering.set(t.name, left - 1);
      return left > 0;
    };
    const result = await awaitIsolation(targets, {
      timeoutMs: 5000,
      probeTimeoutMs: 10,
      intervalMs: 100,
      probe,
      ...clock(),
    });
    expect(result).toEqual({ isolated: true, afterMs: 300, rounds: 4 });
  });

  it('gives up at the bound, naming what still answered', async () => {
    const probe = async (t: Target) => t.name === 'b';
    const result = await awaitIsolation(targets, {
      timeoutMs: 1000,
      probeTimeoutMs: 10,
      intervalMs: 100,
      probe,
      ...clock(),
    });
    expect(result).toEqual({ isolated: false, reached: [targets[1]] });
  });
});

describe('reaches (a real TCP connection on loopback)', () => {
  let server: Server;
  let port: number;
  beforeAll(async () => {
    server = createServer((s) => s.end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('is true for a listener and false for a refused port', async () => {
    expect(await reaches({ name: 'listener', host: '127.0.0.1', port }, 1000)).toBe(true);
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedPort = (closed.address() as { port: number }).port;
    await new Promise<void>((r) => closed.close(() => r()));
    expect(await reaches({ name: 'closed', host: '127.0.0.1', port: closedPort }, 1000)).toBe(false);
  });

  it('the program fails while the node answers, and passes once it does not', async () => {
    const env = { C2D_ISOLATION: 'cluster', C2D_NODE_IP: '127.0.0.1', C2D_ISOLATION_TIMEOUT_MS: '300' };
    expect(await runAwaitIsolation({ ...env, C2D_KUBELET_PORT: String(port) })).toBe(1);
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedPort = (closed.address() as { port: number }).port;
    await new Promise<void>((r) => closed.close(() => r()));
    expect(await runAwaitIsolation({ ...env, C2D_KUBELET_PORT: String(closedPort) })).toBe(0);
  });
});
