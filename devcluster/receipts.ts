import type { Provider, TransactionReceipt } from 'ethers';
import { waitFor } from './processes.ts';

/**
 * The receipt of a sent transaction, polled with a bound: whatever waits on the chain fails with what it waited for
 * instead of hanging. tx.wait() relies on seeing a new block, and on a dev chain that mines each transaction at once
 * a receipt asked for just before its block, with no later block to come, once hung a clean test run for 30 minutes.
 */
export async function minedReceipt(
  provider: Provider,
  hash: string,
  what: string,
  timeoutMs = 60_000,
): Promise<TransactionReceipt> {
  let receipt: TransactionReceipt | null = null;
  // Each poll gets only the time that is left, so a JSON-RPC call that hangs cannot stretch the bound either.
  await waitFor(
    `${what}: a receipt for ${hash}`,
    async () => (receipt = await provider.getTransactionReceipt(hash)) !== null,
    timeoutMs,
    25,
  );
  return receipt!;
}

/** The receipt of a transaction that must succeed: an error naming `what` when it reverted. */
export async function succeeded(
  tx: { hash: string; provider: Provider },
  what: string,
  timeoutMs?: number,
): Promise<TransactionReceipt> {
  const receipt = await minedReceipt(tx.provider, tx.hash, what, timeoutMs);
  if (receipt.status !== 1) throw new Error(`${what} failed in ${tx.hash}`);
  return receipt;
}
