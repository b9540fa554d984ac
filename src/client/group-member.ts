/**
 * A consumer's membership in a consumer group (docs/groups.md): heartbeats on its own
 * timer, applies the broker's assignment, and rejoins after being fenced.
 *
 * The heartbeat timer never waits for message processing: giving partitions up (which may
 * wait for the application's current handler and a commit) runs beside it, and the member
 * keeps reporting the partitions it still holds until the release is done. Then it
 * heartbeats at once with the smaller `ownedPartitions`, so the broker can hand them on.
 *
 *   response assignment  = everything the member may own now (complete, not a delta)
 *   added                = assignment - owned   -> hooks.assigned (read committed offsets)
 *   removed              = owned - assignment   -> hooks.revoked (stop fetching, commit)
 *   FENCED / UNKNOWN     -> hooks.lost(all) (no commit: the epoch is gone), rejoin with epoch 0
 *   GROUP_ / TOPIC_AUTHORIZATION_FAILED -> hooks.lost(all), stop for good, hooks.failed(err)
 *                           (the application's pulls throw it, as its fetches do after a
 *                           revoked read: close the consumer, make a new one once granted)
 *
 * Rebalance push: the broker sends `{ id: 0, push: 'group', groupId }` on this member's
 * connection when the group's epoch moves; the member heartbeats at once instead of at the
 * end of its interval. Debounced by sendNow(): a push while a heartbeat is in flight only
 * marks one more to follow it, so a burst of pushes costs at most one extra heartbeat.
 *
 * The member picks its own id (a UUID, as Kafka's clients do since KIP-1082) and keeps it
 * for its life. A join whose answer was lost (connection dropped, timeout) and is sent again
 * then replaces its first incarnation at the broker instead of adding a second member that
 * holds partitions nobody reads until its session times out; and a close() right after a join
 * can leave by id even though no answer came back.
 */
import { randomUUID } from 'node:crypto';
import { Api, type BodyOf, type ConsumerGroupHeartbeatResponse, type TopicPartitionList } from '../protocol/api.js';
import { parseTpKey, tpKey } from '../protocol/topic-partition.js';
import { SluiceError } from '../errors.js';
import type { GroupLink } from './coordinator-route.js';
import { errorText, type Logger } from './logger.js';
import type { TopicPartition } from './types.js';

export interface GroupMemberHooks {
  /** Partitions granted: set their start positions; they count as owned once this resolves. */
  assigned(tps: TopicPartition[]): Promise<void>;
  /** Partitions taken away: stop fetching, commit, report; released once this resolves. */
  revoked(tps: TopicPartition[]): Promise<void>;
  /** Partitions lost (fenced, left): stop fetching without committing. */
  lost(tps: TopicPartition[]): void;
  /** ms the application has been inside its handler (0 when waiting for the next message). */
  busyForMs(): number;
  /** The member stopped for good (its user may not read the group or a topic it names): the application's next pull throws `err`. */
  failed(err: SluiceError): void;
}

export interface GroupMemberOptions {
  groupId: string;
  topics: string[] | RegExp;
  /** Forwarded from the consumer's options: undefined leaves the broker's default. */
  sessionTimeoutMs?: number | undefined;
  rebalanceTimeoutMs?: number | undefined;
  maxPollIntervalMs: number;
  retryBackoffMs: number;
  logger: Logger;
}

function toList(keys: Iterable<string>): TopicPartitionList[] {
  const by = new Map<string, number[]>();
  for (const k of keys) {
    const { topic, partition } = parseTpKey(k);
    let ps = by.get(topic);
    if (!ps) by.set(topic, (ps = []));
    ps.push(partition);
  }
  return [...by].map(([topic, partitions]) => ({ topic, partitions: partitions.sort((a, b) => a - b) }));
}

export class GroupMember {
  readonly memberId = randomUUID();
  memberEpoch = 0;
  /** A heartbeat went out: the broker may know this member even without an answer. */
  private announced = false;
  /** Partitions this member holds (fetching or allowed to fetch). */
  readonly owned = new Set<string>();
  private target = new Set<string>();
  private readonly adding = new Set<string>();
  private revoking: Promise<void> | null = null;
  private intervalMs = 3000;
  private timer: NodeJS.Timeout | undefined;
  private inFlight = false;
  private again = false;
  private stopped = true;
  /** Left because the application stopped polling; rejoins on its next poll. */
  private leftForPoll = false;
  private responseWaiters: (() => void)[] = [];
  /** Refused for good (an authorization error): never joins again, so a retrying application does not send a join per pull. */
  private refused = false;

  constructor(private readonly conn: GroupLink, private readonly opts: GroupMemberOptions, private readonly hooks: GroupMemberHooks) {
    // Lives as long as the connection (one Consumer, one connection), so never unsubscribed.
    conn.onPush((msg) => {
      if (msg.push === 'group' && msg.groupId === opts.groupId && this.memberEpoch > 0) this.sendNow();
    });
  }

  get active(): boolean {
    return !this.stopped;
  }

  start(): void {
    if (!this.stopped || this.refused) return;
    this.stopped = false;
    this.leftForPoll = false;
    this.memberEpoch = 0;
    this.sendNow();
  }

  /** Heartbeat now (or right after the one in flight). */
  sendNow(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    if (this.inFlight) this.again = true;
    else void this.beat();
  }

  /** Resolves after the next heartbeat response (used to refresh a stale epoch before retrying a commit). */
  nextResponse(): Promise<void> {
    return new Promise((resolve) => {
      this.responseWaiters.push(resolve);
      this.sendNow();
    });
  }

  /** The application polled again after a maxPollIntervalMs departure: join again. */
  polled(): void {
    if (this.leftForPoll) {
      this.opts.logger.info({ groupId: this.opts.groupId }, `handler returned; rejoining group '${this.opts.groupId}'`);
      this.start();
    }
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.beat(), ms);
  }

  private async beat(): Promise<void> {
    if (this.stopped || this.inFlight) return;
    const busy = this.hooks.busyForMs();
    if (busy > this.opts.maxPollIntervalMs) {
      this.opts.logger.warn({ groupId: this.opts.groupId, busyMs: busy }, `handler stuck: no message pulled for ${busy} ms (maxPollIntervalMs ${this.opts.maxPollIntervalMs}); leaving group '${this.opts.groupId}' so its partitions move to other members`);
      this.leftForPoll = true;
      await this.leave();
      return;
    }
    this.inFlight = true;
    this.announced = true;
    const joining = this.memberEpoch === 0;
    const body: BodyOf<typeof Api.ConsumerGroupHeartbeat> = {
      groupId: this.opts.groupId,
      memberId: this.memberId,
      memberEpoch: this.memberEpoch,
      ownedPartitions: toList(this.owned),
    };
    if (joining) {
      if (this.opts.topics instanceof RegExp) body.subscribedPattern = this.opts.topics.source;
      else body.subscribedTopics = this.opts.topics;
      if (this.opts.sessionTimeoutMs !== undefined) body.sessionTimeoutMs = this.opts.sessionTimeoutMs;
      if (this.opts.rebalanceTimeoutMs !== undefined) body.rebalanceTimeoutMs = this.opts.rebalanceTimeoutMs;
    }
    let next = -1; // -1: the interval the broker just told (read after the response)
    try {
      const res = await this.conn.request(Api.ConsumerGroupHeartbeat, body, Math.max(1000, this.intervalMs * 2));
      if (!this.stopped) this.apply(res);
    } catch (err) {
      const code = err instanceof SluiceError ? err.code : '';
      if (code === 'FENCED_MEMBER_EPOCH' || code === 'UNKNOWN_MEMBER_ID') {
        this.opts.logger.warn({ groupId: this.opts.groupId, code }, `${code} in group '${this.opts.groupId}' (epoch ${this.memberEpoch}); dropping ${this.owned.size} partition(s) and rejoining`);
        this.loseAll();
        this.memberEpoch = 0;
        next = 0;
      } else if (code === 'GROUP_AUTHORIZATION_FAILED' || code === 'TOPIC_AUTHORIZATION_FAILED') {
        // The broker removed this member (or never let it in): heartbeating on would hold
        // partitions it may not read, or read them beside their new owner. Kafka's consumer
        // likewise raises these from poll (GROUP_AUTHORIZATION_FAILED fails its member).
        this.opts.logger.warn({ groupId: this.opts.groupId, code }, `${code} in group '${this.opts.groupId}'; dropping ${this.owned.size} partition(s) and leaving: ${errorText(err)}`);
        this.stopped = true;
        this.refused = true;
        this.announced = false;
        this.memberEpoch = 0;
        this.loseAll();
        this.hooks.failed(err as SluiceError);
      } else if (err instanceof SluiceError && err.retriable) {
        next = this.opts.retryBackoffMs;
      } else if (!this.stopped) {
        this.opts.logger.warn({ groupId: this.opts.groupId }, `heartbeat of group '${this.opts.groupId}' failed: ${errorText(err)}`);
        next = Math.max(this.opts.retryBackoffMs, 1000);
      }
    } finally {
      this.inFlight = false;
      for (const w of this.responseWaiters.splice(0)) w();
    }
    if (next < 0) next = this.intervalMs;
    if (this.again) {
      this.again = false;
      next = 0;
    }
    this.schedule(next);
  }

  private apply(res: ConsumerGroupHeartbeatResponse): void {
    this.memberEpoch = res.memberEpoch;
    if (res.heartbeatIntervalMs > 0) this.intervalMs = res.heartbeatIntervalMs;
    if (!res.assignment) return;
    const target = new Set<string>();
    for (const { topic, partitions } of res.assignment) for (const p of partitions) target.add(tpKey(topic, p));
    this.target = target;
    const added = [...target].filter((k) => !this.owned.has(k) && !this.adding.has(k));
    if (added.length) {
      for (const k of added) this.adding.add(k);
      this.hooks.assigned(added.map(parseTpKey)).then(() => {
        // A newer answer (or a fence) may have taken some away while their offsets were
        // read: those were started but are not ours, so they are dropped again (no commit:
        // they never counted as owned). Left alone, the consumer kept fetching them forever.
        const gone: string[] = [];
        for (const k of added) {
          this.adding.delete(k);
          if (this.target.has(k)) this.owned.add(k);
          else gone.push(k);
        }
        if (gone.length) this.hooks.lost(gone.map(parseTpKey));
        this.sendNow();
      }, (err: unknown) => {
        for (const k of added) this.adding.delete(k);
        this.opts.logger.warn({ groupId: this.opts.groupId }, `could not start partitions of group '${this.opts.groupId}': ${errorText(err)}`);
        this.sendNow();
      });
    }
    this.startRevocation();
  }

  private startRevocation(): void {
    if (this.revoking) return;
    const removed = [...this.owned].filter((k) => !this.target.has(k));
    if (!removed.length) return;
    this.revoking = this.hooks.revoked(removed.map(parseTpKey)).catch((err: unknown) => {
      this.opts.logger.warn({ groupId: this.opts.groupId }, `revoking partitions of group '${this.opts.groupId}': ${errorText(err)}`);
    }).then(() => {
      for (const k of removed) this.owned.delete(k);
      this.revoking = null;
      this.startRevocation();
      this.sendNow();
    });
  }

  private loseAll(): void {
    const all = [...this.owned, ...this.adding];
    this.owned.clear();
    this.adding.clear();
    this.target.clear();
    if (all.length) this.hooks.lost(all.map(parseTpKey));
  }

  /** Leaves at once (epoch -1): the broker reassigns this member's partitions immediately. */
  async leave(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.loseAll();
    // Epoch 0 with a join sent: it may have been applied with its answer still on the way.
    if (!this.announced) return;
    this.announced = false;
    const body = { groupId: this.opts.groupId, memberId: this.memberId, memberEpoch: -1 };
    this.memberEpoch = 0;
    try {
      await this.conn.request(Api.ConsumerGroupHeartbeat, body, 5000);
    } catch {
      // The session timeout removes it anyway.
    }
  }
}
