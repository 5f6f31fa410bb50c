import type { NodeLink } from './real-node/node-namespace.ts';
import { resultsStoreEnv, type ResultsStoreConfig } from '../lib/job/results-store-config.ts';

/**
 * What a running local platform tells its users (tests, benchmarks, the demo). It is written to `.dev/env` as
 * shell variables by `npm run dev -- up`, and provided to integration tests as `inject('platform')`.
 */
export interface PlatformEnv {
  /** Directory holding this platform instance's state (certs, data, logs, pid files). */
  stateDir: string;
  /** Admin kubeconfig (system:masters). Tests that check least privilege mint ServiceAccount tokens instead. */
  kubeconfig: string;
  /** Namespace the engine runs jobs in, and the one the control-plane parts (functions, engine) live in. */
  namespaces: { jobs: string; system: string };
  rpcUrl: string;
  chainId: number;
  /** Funded private keys (0x-hex) of the local chain's well-known accounts, one per role. */
  keys: { deployer: string; publisher: string; consumer: string; provider: string; other: string };
  /** Addresses of Ocean's contracts deployed on the local chain, by contract name (ERC721Factory, Router, ...). */
  ocean: Record<string, string>;
  s3: ResultsStoreConfig;
  /**
   * The results store's endpoint as job pods reach it, when that differs from `s3.endpoint` (the real node: an
   * in-cluster address, see devcluster/real-node/results-store.ts). The results-store Secret carries this one.
   */
  podS3Endpoint?: string;
  /** Absolute path of the built `kn` CLI. */
  kn: string;
  /**
   * The algorithm images the node has, by `image:tag` (`node:24`, `python:3`, `debian:bookworm`), each mapped to the
   * manifest digest a DDO's `container.checksum` pins (`sha256:…`).
   */
  algorithmImages: Record<string, string>;
  /** The first node's namespace: a test serves a host port to pods through it (real-node/public-address.ts). */
  nodeLink: NodeLink;
}

/** Renders the env as a shell-sourceable file. Values are single-quoted; none of them may contain a quote. */
export function toShellEnv(env: PlatformEnv): string {
  const vars: Record<string, string> = {
    C2D_STATE_DIR: env.stateDir,
    KUBECONFIG: env.kubeconfig,
    JOBS_NAMESPACE: env.namespaces.jobs,
    SYSTEM_NAMESPACE: env.namespaces.system,
    RPC_URL: env.rpcUrl,
    CHAIN_ID: String(env.chainId),
    DEPLOYER_KEY: env.keys.deployer,
    PUBLISHER_KEY: env.keys.publisher,
    CONSUMER_KEY: env.keys.consumer,
    PROVIDER_KEY: env.keys.provider,
    OTHER_KEY: env.keys.other,
    ...resultsStoreEnv(env.s3),
    KN: env.kn,
    OCEAN_ADDRESSES: JSON.stringify(env.ocean),
    ALGORITHM_IMAGES: JSON.stringify(env.algorithmImages),
  };
  for (const [name, address] of Object.entries(env.ocean)) vars[`OCEAN_${name.toUpperCase()}`] = address;
  return (
    Object.entries(vars)
      .map(([k, v]) => {
        if (v.includes("'")) throw new Error(`value of ${k} contains a single quote`);
        return `export ${k}='${v}'`;
      })
      .join('\n') + '\n'
  );
}
