import { forbidden, unavailable } from '../http/errors.ts';
import { contractsPerChain, type Access } from '../job/environments.ts';

/**
 * Who may use an environment or its free tier, as ocean-node decides it (startCompute.ts validateAccess,
 * utils/accessList.ts): nothing listed admits anyone; otherwise an address in `addresses`, or one holding a token
 * (balanceOf > 0) of any AccessList contract listed for this provider's chain. Lists on other chains are served but
 * cannot be read here, so they admit no one (ocean-node skips a chain it has no RPC for, the same way).
 * Unlike ocean-node, a list that cannot be read is not a "no": it is a retryable 503, and never an admission.
 */

/** What to do for one address, before any chain call. */
export type AccessPlan =
  | { kind: 'admitted'; why: 'open' | 'address' }
  | { kind: 'ask'; contracts: string[] }
  | { kind: 'refused'; lists: number };

export function planAccess(access: Access | undefined, address: string, chainId: number): AccessPlan {
  const addresses = access?.addresses ?? [];
  const byChain = contractsPerChain(access?.accessLists);
  if (addresses.length === 0 && Object.keys(byChain).length === 0) return { kind: 'admitted', why: 'open' };
  if (addresses.includes(address.toLowerCase())) return { kind: 'admitted', why: 'address' };
  const contracts = byChain[String(chainId)] ?? [];
  return contracts.length > 0 ? { kind: 'ask', contracts } : { kind: 'refused', lists: 0 };
}

/** One AccessList's answer: whether the address holds a token, or why it could not be read. */
export type ListAnswer = { contract: string; holds: boolean } | { contract: string; error: string };

export type AccessDecision =
  { kind: 'admitted' } | { kind: 'refused'; lists: number } | { kind: 'unavailable'; errors: string[] };

/** Any holding admits, even when another list could not be read; a "no" stands only when every list answered. */
export function decideAccess(answers: readonly ListAnswer[]): AccessDecision {
  if (answers.some((a) => 'holds' in a && a.holds)) return { kind: 'admitted' };
  const errors = answers.flatMap((a) => ('error' in a ? [`${a.contract}: ${a.error}`] : []));
  return errors.length > 0 ? { kind: 'unavailable', errors } : { kind: 'refused', lists: answers.length };
}

/** The chain the lists are read on. `holdsToken` throws when the RPC fails or times out (one bounded call). */
export interface AccessListReader {
  chainId: number;
  holdsToken(contract: string, address: string): Promise<boolean>;
}

/**
 * Throws 403 unless `access` admits `address` (`scope` names what it guards, e.g. "the free tier of environment
 * x"), 503 when a list it depends on could not be read. The lists are asked together: one RPC timeout at most.
 */
export async function assertAccess(
  reader: AccessListReader,
  access: Access | undefined,
  address: string,
  scope: string,
): Promise<void> {
  const plan = planAccess(access, address, reader.chainId);
  if (plan.kind === 'admitted') return;
  const decision =
    plan.kind === 'refused'
      ? plan
      : decideAccess(
          await Promise.all(
            plan.contracts.map((contract) =>
              reader.holdsToken(contract, address).then(
                (holds) => ({ contract, holds }),
                (err: unknown) => ({ contract, error: err instanceof Error ? err.message : String(err) }),
              ),
            ),
          ),
        );
  if (decision.kind === 'admitted') return;
  if (decision.kind === 'unavailable') {
    throw unavailable(
      `could not read the access lists of ${scope} on chain ${reader.chainId}, try again: ${decision.errors[0]}`,
    );
  }
  const { lists } = decision;
  const why =
    lists === 0
      ? `no access list of it is on chain ${reader.chainId}`
      : `it holds no token of its ${lists} access list${lists === 1 ? '' : 's'} on chain ${reader.chainId}`;
  throw forbidden(`${address} is not on the access list of ${scope}: not among its addresses, and ${why}`);
}
