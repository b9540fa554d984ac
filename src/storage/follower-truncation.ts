/**
 * The follower's truncation decision of KIP-279 ("Fix log divergence between leader and
 * follower after fast leader fail over"), as a pure function.
 *
 * Before a follower fetches from a (new) leader it asks "where does my latest epoch end on
 * your log?" (the leader answers with its cache's `endOffsetFor(epoch, logEndOffset)`), and
 * cuts its own log back to where the two histories agree. KIP-101 did this in one round;
 * KIP-279 showed that after fast fail-overs the leader may answer with an epoch the follower
 * never saw, and the follower must then truncate to the end of its own largest epoch below
 * that one and ask again. Each extra round removes at least one local epoch, so the rounds end.
 *
 * The protocol loop (ask, decide, truncateTo, repeat while `done` is false) belongs to the
 * replica fetcher; test/storage/leader-epoch-scenarios.test.ts plays it on two real logs.
 */
import { UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET, type EpochEndOffset, type LeaderEpochCache } from './leader-epoch-cache.js';

export interface TruncationDecision {
  /** Offset to truncate the local log to (`truncateTo`); at most the local log end offset. */
  offset: number;
  /** False: truncate, then ask the leader again with the new latest local epoch. */
  done: boolean;
}

/**
 * @param leader the leader's answer for the follower's latest epoch (`local.latestEpoch()`)
 * @param local the follower's leader-epoch cache
 * @param logEndOffset the follower's log end offset
 * @param highWatermark the follower's high watermark: the fallback (pre-KIP-101 rule) when the
 *   leader knows no epoch to answer with, as Kafka does
 */
export function followerTruncation(
  leader: EpochEndOffset, local: LeaderEpochCache, logEndOffset: number, highWatermark: number,
): TruncationDecision {
  if (leader.endOffset === UNDEFINED_EPOCH_OFFSET) return { offset: Math.min(highWatermark, logEndOffset), done: true };
  if (leader.epoch === UNDEFINED_EPOCH) return { offset: Math.min(leader.endOffset, logEndOffset), done: true };
  // Where the leader's answering epoch (the largest it knows <= ours) ends on our log.
  const mine = local.endOffsetFor(leader.epoch, logEndOffset);
  if (mine.endOffset === UNDEFINED_EPOCH_OFFSET) {
    // We know no epoch that old or none at all: the leader's end of that epoch is all we can keep.
    return { offset: Math.min(leader.endOffset, logEndOffset), done: true };
  }
  if (mine.epoch !== leader.epoch) {
    // We never saw the leader's epoch: keep what our largest epoch below it wrote, then ask again.
    return { offset: Math.min(mine.endOffset, logEndOffset), done: false };
  }
  return { offset: Math.min(mine.endOffset, leader.endOffset, logEndOffset), done: true };
}
