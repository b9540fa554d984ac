/**
 * A simulated consumer for coordinator tests: it owns exactly what its last heartbeat
 * response assigned (it gives revoked partitions up and starts on new ones before its next
 * heartbeat) and reports that as ownedPartitions, as a real client does.
 */
import assert from 'node:assert/strict';
import type { GroupCoordinator } from '../../src/group/coordinator.js';
import type { HeartbeatOutput } from '../../src/group/group.js';
import { fromTopicPartitions, toTopicPartitions } from '../../src/group/types.js';

export class ManualClock {
  constructor(public t = 1_000_000) {}
  now(): number {
    return this.t;
  }
}

export class SimConsumer {
  owned = new Set<string>();
  epoch = 0;
  /** Partitions this consumer ever had to give up (to check members keep theirs through a rebalance). */
  readonly lost = new Set<string>();
  /** Sent on every heartbeat when set: the member's user (auth scram), as the broker fills it in. */
  principal: string | undefined;

  constructor(readonly coord: GroupCoordinator, readonly groupId: string, public id: string,
    readonly topics: string[] | null = ['t'], readonly pattern?: string) {}

  heartbeat(): HeartbeatOutput {
    const joining = this.epoch === 0;
    const res = this.coord.heartbeat(this.groupId, {
      memberId: this.id,
      memberEpoch: this.epoch,
      ...(joining && this.topics ? { subscribedTopics: this.topics } : {}),
      ...(joining && this.pattern !== undefined ? { subscribedPattern: this.pattern } : {}),
      ...(this.principal !== undefined ? { principal: this.principal } : {}),
      ownedPartitions: toTopicPartitions(this.owned),
    });
    this.id = res.memberId;
    this.epoch = res.memberEpoch;
    const next = fromTopicPartitions(res.assignment);
    for (const k of this.owned) if (!next.has(k)) this.lost.add(k);
    this.owned = next;
    return res;
  }

  /** Changes the subscription on the next heartbeat. */
  resubscribe(topics: string[]): HeartbeatOutput {
    const res = this.coord.heartbeat(this.groupId, {
      memberId: this.id, memberEpoch: this.epoch, subscribedTopics: topics, ownedPartitions: toTopicPartitions(this.owned),
    });
    this.epoch = res.memberEpoch;
    const next = fromTopicPartitions(res.assignment);
    for (const k of this.owned) if (!next.has(k)) this.lost.add(k);
    this.owned = next;
    return res;
  }

  leave(): void {
    this.coord.heartbeat(this.groupId, { memberId: this.id, memberEpoch: -1 });
    this.owned = new Set();
    this.epoch = 0;
  }
}

/** No partition is held by two live consumers at once. */
export function assertDisjoint(consumers: readonly SimConsumer[]): void {
  const seen = new Map<string, string>();
  for (const c of consumers) {
    for (const k of c.owned) {
      assert.ok(!seen.has(k), `partition ${JSON.stringify(k)} owned by ${seen.get(k)} and ${c.id} at once`);
      seen.set(k, c.id);
    }
  }
}

/**
 * Heartbeats every consumer once per round (checking disjointness after each heartbeat)
 * until the group is Stable; returns the number of rounds.
 */
export function roundsUntilStable(coord: GroupCoordinator, groupId: string, consumers: readonly SimConsumer[], max = 50): number {
  for (let round = 1; round <= max; round++) {
    for (const c of consumers) {
      c.heartbeat();
      assertDisjoint(consumers);
    }
    if (coord.describeGroups([groupId])[0].state === 'Stable') return round;
  }
  assert.fail(`group ${groupId} not stable after ${max} rounds`);
}

export function counts(consumers: readonly SimConsumer[]): number[] {
  return consumers.map((c) => c.owned.size);
}
