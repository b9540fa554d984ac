/**
 * V8 runs each young-generation GC (scavenge) on the main thread plus helper threads, as
 * many as the machine has cores. On a 2-core machine where the broker and its clients
 * share the cores, the main thread waits for helpers that are waiting for a core: in a
 * 1 M-message replay the consumer's scavenges took 52-58 ms in parallel and 17-22 ms on
 * the main thread alone, and replay ran 3.03 -> 3.31 M msgs/s (medians of 9, see
 * docs/performance.md). The young generation of a broker or client is mostly garbage, so
 * one thread copies what is left quickly.
 *
 * The `sluice` command (broker, CLI clients, benchmarks) therefore scavenges on one thread
 * on machines with at most 2 cores. SLUICE_GC_TUNING=0 (or false, off) keeps V8's defaults. An application
 * that embeds the client library chooses its own flags (`node --no-parallel-scavenge`).
 */
import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';

/** Returns the V8 flag it set, or null when it left the defaults alone. */
export function tuneGc(env: NodeJS.ProcessEnv = process.env, cores = availableParallelism()): string | null {
  if (/^(0|false|off|no)$/i.test(env.SLUICE_GC_TUNING ?? '') || cores > 2) return null;
  const flag = '--no-parallel-scavenge';
  // The flag is read at every scavenge, so setting it after start-up takes effect.
  setFlagsFromString(flag);
  return flag;
}
