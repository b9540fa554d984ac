/**
 * OffsetsForLeaderEpoch (api 23): where a leader epoch ends on this broker's log of each
 * partition, Kafka's answer to a follower that is about to truncate (KIP-101 / KIP-279; the
 * follower's decision is storage/follower-truncation.ts). The answer comes from the
 * partition's leader-epoch cache: the largest epoch at or below the one asked for, and the
 * first offset of the next epoch (the log end for the latest).
 *
 * Checking `currentLeaderEpoch` against this broker's role (FENCED_LEADER_EPOCH, NOT_LEADER_OR_FOLLOWER)
 * belongs to the replication layer once it is wired in; a single broker answers from its logs.
 */
import type { OffsetsForLeaderEpochRequest, OffsetsForLeaderEpochResponse, EpochEndOffsetResult } from '../protocol/api.js';
import type { BrokerContext } from './context.js';
import { resolveLog } from './topic-access.js';

export async function handleOffsetsForLeaderEpoch(ctx: BrokerContext, req: OffsetsForLeaderEpochRequest): Promise<OffsetsForLeaderEpochResponse> {
  const partitions = req.partitions.map((p): EpochEndOffsetResult => {
    const r = resolveLog(ctx, p.topic, p.partition);
    if (r.error) return { topic: p.topic, partition: p.partition, error: r.error, leaderEpoch: -1, endOffset: -1 };
    const end = r.log.endOffsetForEpoch(p.leaderEpoch);
    return { topic: p.topic, partition: p.partition, leaderEpoch: end.epoch, endOffset: end.endOffset };
  });
  return { id: req.id, partitions };
}
