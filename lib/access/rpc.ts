import { JsonRpcProvider, Network, isError, type Interface, type Log, type Provider, type Result } from 'ethers';
import { ChainUnavailable } from './errors.ts';

const DEFAULT_RPC_TIMEOUT_MS = 10_000;

/**
 * A JSON-RPC provider for one chain. The network is fixed up front: ethers would otherwise keep retrying network
 * detection against an RPC that is down, and every call would hang instead of failing. Answers are not cached: a
 * block number from 250 ms ago would hide an asset published since.
 */
export function createChainProvider(rpcUrl: string, chainId: number): JsonRpcProvider {
  const network = Network.from(chainId);
  return new JsonRpcProvider(rpcUrl, network, { staticNetwork: network, pollingInterval: 1_000, cacheTimeout: -1 });
}

/** Runs one chain request; any failure or a timeout becomes ChainUnavailable, naming what was asked. */
export async function rpc<T>(what: string, request: () => Promise<T>, timeoutMs = DEFAULT_RPC_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new ChainUnavailable(`chain RPC timed out after ${timeoutMs} ms (${what})`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([request(), timeout]);
  } catch (err) {
    if (err instanceof ChainUnavailable) throw err;
    throw new ChainUnavailable(`chain RPC failed (${what})`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Calls a view function. A revert or an answer that does not decode (no contract at the address, another
 * contract) is a fact about the address, returned as `undefined`; an RPC failure is ChainUnavailable.
 */
export async function callView(
  provider: Provider,
  target: string,
  iface: Interface,
  fn: string,
  args: readonly unknown[],
  timeoutMs = DEFAULT_RPC_TIMEOUT_MS,
): Promise<Result | undefined> {
  const data = iface.encodeFunctionData(fn, args);
  let answer: string;
  try {
    answer = await rpc(`${fn} on ${target}`, () => provider.call({ to: target, data }), timeoutMs);
  } catch (err) {
    if (err instanceof ChainUnavailable && isError(err.cause, 'CALL_EXCEPTION')) return undefined;
    throw err;
  }
  try {
    return iface.decodeFunctionResult(fn, answer);
  } catch {
    return undefined;
  }
}

export interface LogQuery {
  address?: string;
  topics: (string | string[] | null)[];
  fromBlock: number;
  /** Inclusive; defaults to the latest block. */
  toBlock?: number;
  /** Most blocks per eth_getLogs request (many public RPCs cap the range); default: one request. */
  blockRange?: number;
}

/** eth_getLogs over a block range, split into chunks when `blockRange` is set; logs come back in chain order. */
export async function getLogs(provider: Provider, query: LogQuery, timeoutMs = DEFAULT_RPC_TIMEOUT_MS): Promise<Log[]> {
  const base = { address: query.address, topics: query.topics };
  if (!query.blockRange || query.blockRange <= 0) {
    // One request up to 'latest': a block number read just before could be a cached, stale one.
    const filter = { ...base, fromBlock: query.fromBlock, toBlock: query.toBlock ?? 'latest' };
    return rpc(
      `eth_getLogs ${query.fromBlock}-${query.toBlock ?? 'latest'}`,
      () => provider.getLogs(filter),
      timeoutMs,
    );
  }
  const toBlock = query.toBlock ?? (await rpc('eth_blockNumber', () => provider.getBlockNumber(), timeoutMs));
  const logs: Log[] = [];
  for (let from = query.fromBlock; from <= toBlock; from += query.blockRange) {
    const to = Math.min(toBlock, from + query.blockRange - 1);
    const filter = { ...base, fromBlock: from, toBlock: to };
    logs.push(...(await rpc(`eth_getLogs ${from}-${to}`, () => provider.getLogs(filter), timeoutMs)));
  }
  return logs;
}
