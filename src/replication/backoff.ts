/**
 * Retry delays for the replica fetcher: exponential, capped, with "equal jitter" (a delay is
 * drawn from the upper half of the capped exponential). Jitter keeps the followers of a
 * restarted leader from all coming back in the same millisecond; the lower half is left out
 * so that no draw is ever near zero, which keeps a failing link or partition from turning
 * into a tight loop whatever the random source returns.
 */

/**
 * @param attempt failures in a row so far, >= 1
 * @param baseMs the first delay's cap
 * @param maxMs the largest cap
 * @param random a value in [0, 1) (Math.random; tests pass their own)
 * @returns a delay in [cap / 2, cap), where cap = min(maxMs, baseMs * 2^(attempt - 1))
 */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(attempt, 1) - 1, 30));
  return cap / 2 + random() * (cap / 2);
}
