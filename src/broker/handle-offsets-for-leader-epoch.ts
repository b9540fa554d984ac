/**
 * OffsetsForLeaderEpoch (api 23): where a leader epoch ends on this broker's log of each
 * partition, Kafka's answer to a follower that is about to truncate (KIP-101 / KIP-279; the
 * follower's decision is storage/follower-truncation.ts). The answer comes from the
 * partition's leader-epoch cache: the largest epoch at or below the one asked for, and the
 * first offset of the next epoch (the log end for the latest).
 *
 * In cluster mode only the partition's leader answers, and `currentLeaderEpoch` (-1: not
 * checked) is checked as Fetch's is: older than the leader's FENCED_LEADER_EPOCH, newer
 * UNKNOWN_LEADER_EPOCH, a broker that does not lead NOT_LEADER_OR_FOLLOWER. A single broker
 * answers from its logs.
 */
import type { EpochEndOffsetResult } from '../protocol/api.js';
import { resolveLog } from './topic-access.js';
import { errorOf } from './wire-error.js';
import { Leadership } from '../replication/replica-manager.js';
import type { PartitionLog } from '../storage/types.js';
import type { Api } from '../protocol/api.js';
import type { Handler } from './handler.js';

export const handleOffsetsForLeaderEpoch: Handler<typeof Api.OffsetsForLeaderEpoch> = async (ctx, req) => {
  const rm = ctx.replicas;
  const partitions = req.partitions.map((p): EpochEndOffsetResult => {
    let log: PartitionLog;
    if (rm === undefined) {
      const r = resolveLog(ctx, p.topic, p.partition);
      if (r.error) return { topic: p.topic, partition: p.partition, error: r.error, leaderEpoch: -1, endOffset: -1 };
      log = r.log;
    } else {
      const l = rm.leaderFor(p.topic, p.partition, p.currentLeaderEpoch);
      if (!(l instanceof Leadership)) return { topic: p.topic, partition: p.partition, error: errorOf(l.error, l.message), leaderEpoch: -1, endOffset: -1 };
      log = l.log;
    }
    const end = log.endOffsetForEpoch(p.leaderEpoch);
    return { topic: p.topic, partition: p.partition, leaderEpoch: end.epoch, endOffset: end.endOffset };
  });
  return { id: req.id, partitions };
};
