import { Wallet } from 'ethers';
import type { AccessSettings } from '../access/check-job.ts';
import type { ChainContext } from '../access/chain-context.ts';
import { createChainProvider } from '../access/rpc.ts';
import { V2_BASE } from './endpoints.ts';
import type { Runtime } from './runtime.ts';

/**
 * The chain and key of start and initializeCompute, the functions that run the access checks. Apart from Runtime
 * so that the other functions do not load the chain client (ethers' providers and wallets) at all.
 */
const chains = new WeakMap<Runtime, ChainContext>();

/** The chain `runtime` is configured for: one JSON-RPC provider per Runtime. */
function chainOf(runtime: Runtime): ChainContext {
  let chain = chains.get(runtime);
  if (!chain) {
    const { config } = runtime;
    chain = {
      provider: createChainProvider(config.rpcUrl, config.chainId),
      chainId: config.chainId,
      factoryAddress: config.factoryAddress,
    };
    chains.set(runtime, chain);
  }
  return chain;
}

/**
 * What the access checks need: the chain, the provider's key and URLs, the file rules. A DDO's service may name this
 * provider by either API's base URL (`PROVIDER_URL` for ocean.js 3.x, `PROVIDER_URL/v2` for 8.x): both are this
 * provider, with the same jobs and checks.
 */
export function accessSettings(runtime: Runtime): AccessSettings {
  const { config } = runtime;
  return {
    chain: chainOf(runtime),
    key: new Wallet(config.providerKey()),
    providerUrls: [config.serviceEndpoint, `${config.serviceEndpoint.replace(/\/+$/, '')}${V2_BASE}`],
    files: { privateHosts: config.privateFileHosts },
  };
}
