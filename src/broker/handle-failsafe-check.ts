/**
 * FailsafeCheck (api 1300, cluster mode, broker to broker): another leader, whose etcd session
 * is no longer trusted, asks whether it may go on acknowledging writes. This broker grants only
 * while it cannot see etcd either and its view of partition states is not newer than the
 * asker's; a grant is recorded as a promise that holds the writes of leaderships gained after
 * it (cluster/failsafe.ts). A single broker has nothing to promise: it refuses.
 */
import type { FailsafeCheckRequest, FailsafeCheckResponse } from '../protocol/api.js';
import { newestRevision } from '../cluster/failsafe.js';
import type { BrokerContext } from './context.js';

export function handleFailsafeCheck(ctx: BrokerContext, req: FailsafeCheckRequest): Promise<FailsafeCheckResponse> {
  const c = ctx.cluster;
  if (c === undefined) return Promise.resolve({ id: req.id, granted: false, reason: 'this broker does not run in cluster mode' });
  const d = c.failsafe.answer({
    askerNodeId: req.nodeId,
    askerViewRevision: req.viewRevision,
    ownNodeId: c.nodeId,
    ownViewRevision: newestRevision(c.node.view.partitions()),
    etcdSilentMs: c.node.etcdSilentMs(),
    silenceNeededMs: c.node.fenceAfterMs,
  });
  return Promise.resolve(d.granted ? { id: req.id, granted: true } : { id: req.id, granted: false, reason: d.reason });
}
