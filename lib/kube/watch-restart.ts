/**
 * How long to wait before restarting a failed watch: 0.5 s, doubling with each failure in a row, at most 30 s.
 * A watch that ends normally re-watches by itself (client-node's ListWatch); only failures come here.
 */
export function watchRestartDelayMs(failuresInARow: number): number {
  return Math.min(30_000, 250 * 2 ** Math.min(Math.max(failuresInARow, 1), 7));
}
