import type { Provider, TransactionReceipt } from 'ethers';

/**
 * The receipt of a sent transaction, polled with a bound: whatever waits on the chain fails with what it waited for
 * instead of hanging. tx.wait() relies on seeing a new block, and on a dev chain that mines each transaction at once
 * a receipt asked for just before its block, with no later block to come, once hung a clean test run for 30 minutes.
 */
export async function minedReceipt(provider: Provider, hash: string, what: string, timeoutMs = 60_000): Promise<TransactionReceipt> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const receipt = await provider.getTransactionReceipt(hash);
    if (receipt) return receipt;
    if (Date.now() > deadline) throw new Error(`${what}: no receipt for ${hash} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The receipt of a transaction that must succeed: an error naming `what` when it reverted. */
export async function succeeded(tx: { hash: string; provider: Provider }, what: string, timeoutMs?: number): Promise<TransactionReceipt> {
  const receipt = await minedReceipt(tx.provider, tx.hash, what, timeoutMs);
  if (receipt.status !== 1) throw new Error(`${what} failed in ${tx.hash}`);
  return receipt;
}
