import type { Provider, SigningKey } from 'ethers';

/** The chain the checks read, and Ocean's factory there: an NFT or datatoken counts only if this factory made it. */
export interface ChainContext {
  provider: Provider;
  chainId: number;
  /** ERC721Factory address. */
  factoryAddress: string;
  /** First block worth scanning for NFTs and metadata events (the factory's deployment block); default 0. */
  fromBlock?: number;
  /** Most blocks per eth_getLogs request; default: the whole range at once. */
  logBlockRange?: number;
  /** Per RPC request; default 10 s. */
  rpcTimeoutMs?: number;
}

/** This provider's key. An ethers Wallet fits; `privateKey` decrypts, `signingKey` signs fees. */
export interface ProviderKey {
  address: string;
  privateKey: string;
  signingKey: SigningKey;
}
