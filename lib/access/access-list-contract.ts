import { Interface } from 'ethers';
import type { ChainContext } from './chain-context.ts';
import type { AccessListReader } from './environment-access.ts';
import { callView } from './rpc.ts';

/** The one function of Ocean's AccessList (an ERC-721) that the check reads. */
const ACCESS_LIST = new Interface(['function balanceOf(address owner) view returns (uint256)']);

/**
 * AccessList contracts read on the provider's chain, each call bounded by the chain's RPC timeout. A listed address
 * that reverts or answers something else (no contract there) holds nothing; an RPC failure throws ChainUnavailable.
 */
export function accessListReader(chain: ChainContext): AccessListReader {
  return {
    chainId: chain.chainId,
    async holdsToken(contract, address) {
      const answer = await callView(chain.provider, contract, ACCESS_LIST, 'balanceOf', [address], chain.rpcTimeoutMs);
      return answer !== undefined && (answer[0] as bigint) > 0n;
    },
  };
}
