/**
 * ElectLeaders (api 43), cluster mode: preferred-leader elections run by the controller (this
 * broker's, or forwarded to it once, as CreateTopics is; docs/cluster.md, "Moving data between
 * brokers"). Each named partition, or every partition whose leader is not its first replica,
 * moves its leadership to that replica when it is live and in the ISR. A single broker leads
 * every partition already.
 */
import type { Api, ElectLeadersResponse } from '../protocol/api.js';
import { asForwarded } from './forwarded-request.js';
import { errorOf, wireError } from './wire-error.js';
import type { Handler } from './handler.js';

export const handleElectLeaders: Handler<typeof Api.ElectLeaders> = async (ctx, req) => {
  const cluster = ctx.cluster;
  if (cluster === undefined) {
    const partitions = (req.partitions ?? []).map(({ topic, partition }) => ({ topic, partition, error: errorOf('ELECTION_NOT_NEEDED', 'a single broker leads every partition') }));
    return { id: req.id, partitions };
  }
  let partitions: ElectLeadersResponse['partitions'];
  try {
    partitions = await asForwarded(req.forwardedBy, () => cluster.electLeaders(req.partitions));
  } catch (err) {
    // The controller could not be reached (NOT_CONTROLLER, ETCD_UNAVAILABLE): every partition asked fails with it.
    const error = wireError(err, ctx.log);
    partitions = (req.partitions ?? []).map(({ topic, partition }) => ({ topic, partition, error }));
    if (req.partitions === undefined) return { id: req.id, partitions: [], error };
  }
  for (const p of partitions) if (p.leader !== undefined) ctx.log.info('preferred leader elected', { topic: p.topic, partition: p.partition, leader: p.leader });
  return { id: req.id, partitions };
};
