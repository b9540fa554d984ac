import { GRPCGenericError } from 'etcd3';

/**
 * etcd3's failures to reach etcd: its gRPC transport errors (unavailable, deadline, cancelled)
 * and the open circuit breaker of its connection pool (cockatiel's BrokenCircuitError, marked
 * `isBrokenCircuitError`; not imported, cockatiel is etcd3's dependency, not ours). Anything
 * else (a refused transaction, a value no broker wrote) is an answer, not silence.
 */
export function isEtcdUnreachable(err: unknown): boolean {
  return err instanceof GRPCGenericError || (err instanceof Error && (err as { isBrokenCircuitError?: unknown }).isBrokenCircuitError === true);
}
