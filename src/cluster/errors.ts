/**
 * Errors of cluster membership. They stay inside a broker (start-up stops with them, or the
 * controller re-reads and decides again), so they have no entry in the wire table.
 */
import { SluiceError } from '../errors.js';

/** Another live broker is registered with this node id: two brokers with one id is a configuration error. */
export class NodeIdInUseError extends SluiceError {
  constructor(readonly nodeId: number, holder: string) {
    super('NODE_ID_IN_USE', `node id ${nodeId} is already registered by a live broker (${holder}); give each broker its own --node-id`);
  }
}

/** A write guarded by the controller epoch failed: this broker is no longer the controller. */
export class ControllerFencedError extends SluiceError {
  constructor(readonly epoch: number) {
    super('CONTROLLER_FENCED', `controller epoch ${epoch} is no longer current: another broker is the controller`);
  }
}

/** The etcd session is gone or can no longer be trusted (its lease may have expired). */
export class SessionExpiredError extends SluiceError {
  constructor(message: string) {
    super('SESSION_EXPIRED', message);
  }
}

/**
 * etcd takes fewer operations per transaction than the controller's smallest write (its
 * `--max-txn-ops`; etcd-txn-limit.ts): nothing a controller decides could be written.
 */
export class EtcdTxnLimitError extends SluiceError {
  constructor(readonly maxTxnOps: number, needed: number) {
    super('INVALID_CONFIG', `etcd accepts ${maxTxnOps} operations per transaction and the controller needs at least ${needed}: start etcd with --max-txn-ops 128 (its default) or more`);
  }
}
