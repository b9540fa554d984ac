/**
 * The seams of replication (cluster mode, docs/cluster.md), written down before the pieces so
 * that the leader side, the follower side and the broker's wiring can be built apart:
 *
 *   - the replica manager applies partition states from the cluster view to the local logs:
 *     for each partition placed on this broker it is the leader (it answers produce, consumer
 *     fetches up to the high watermark, and replica fetches) or a follower (a `Follower` copies
 *     the leader's log);
 *   - a `Follower` fetches from leaders over `BrokerLink`s: it truncates by leader epoch
 *     (OffsetsForLeaderEpoch, storage/follower-truncation.ts) and then appends what replica
 *     fetches return, as the leader stored it.
 *
 * This module knows storage, protocol and cluster; it knows no sockets (a BrokerLink is
 * handed in) and nothing of the broker's handlers.
 */
import type { ApiKey } from '../protocol/api.js';
import type { BodyOf, ResponseOf } from '../protocol/api-table.js';
import type { PartitionLog } from '../storage/types.js';

/** A connection to another broker, as replication uses it; the client's Connection is one. */
export interface BrokerLink {
  request<A extends ApiKey>(api: A, body: BodyOf<A>, timeoutMs?: number): Promise<ResponseOf<A>>;
  close(): Promise<void>;
}

/** Opens (or returns the open) link to broker `nodeId`; rejects when its URL is unknown or it cannot be reached. */
export type LinkFactory = (nodeId: number) => Promise<BrokerLink>;

/** A partition this broker follows: whom it copies and at which leader epoch. */
export interface FollowedPartition {
  readonly topic: string;
  readonly partition: number;
  readonly leaderId: number;
  readonly leaderEpoch: number;
  readonly log: PartitionLog;
  /** A replica a reassignment is adding here: its fetching counts against the reassignment throttle (replication-quota.ts). */
  readonly throttled?: boolean;
  /**
   * What this replica knew committed before it started following (its high watermark from the
   * checkpoint of a previous life: storage/high-watermark-checkpoint.ts), until the leader's
   * first answer tells: a restarted follower promoted before that answer does not start its
   * high watermark at the log start. Never above the local log end when reported.
   */
  readonly highWatermark?: number;
}

/**
 * The follower side: copies leaders' logs into local replicas. `follow` (re)starts following a
 * partition, replacing what it did for that partition before (a new leader or a new epoch
 * means truncating again first); `unfollow` stops, and resolves once no append to the log is
 * in flight (so the caller may make the log a leader's or close it).
 */
export interface Follower {
  follow(p: FollowedPartition): void;
  unfollow(topic: string, partition: number): Promise<void>;
  /** The high watermark the leader last reported for a followed partition (-1 unknown). */
  highWatermark(topic: string, partition: number): number;
  stop(): Promise<void>;
}
