/**
 * Consumer: reads assigned partitions from a position, by `for await` or `run()`.
 *
 * Fetching (partition-fetcher.ts) is pipelined: one long-poll Fetch covering every
 * assigned partition is in flight, and undelivered fetched bytes are capped by
 * `maxBufferedBytes`.
 *
 * Positions: `position(tp)` is the offset after the last message the application handled
 * (while a message is being handled, that message's own offset). seek() changes it and discards anything already fetched for that partition. After a dropped
 * connection the fetch is retried from the same offsets once the connection is back.
 *
 * autoOffsetReset decides where a partition without a position starts and what happens
 * on OFFSET_OUT_OF_RANGE: 'earliest' (the default here; Kafka's is 'latest') re-reads the
 * oldest retained record, because for a replay log re-reading beats silently skipping
 * everything retention has not yet removed; 'latest' jumps to the end; 'none' raises the
 * error to the application. Every reset is logged with its reason.
 *
 * Consumer groups: with `groupId` and `topics` (names or a RegExp) the partitions come
 * from the group coordinator instead of assign() (group-session.ts wires group-member.ts,
 * which heartbeats on its own timer, to the fetcher). A granted partition starts at the group's committed offset, or per
 * autoOffsetReset when there is none (logged). Commits send `position` (last handled + 1:
 * see run() and the async iterator) with the member's epoch: automatically every autoCommitIntervalMs, before a partition is
 * released, and on close(); or by commit(). A partition is released only once the
 * application is between messages (it asked for the next one or its handler returned), so
 * a commit never covers a message still being handled. If the application stays inside a
 * handler (or does not pull the next message) for maxPollIntervalMs, the consumer leaves
 * the group, logging that the handler is stuck, and rejoins on its next pull.
 */
import { BrokerError, ERRORS } from '../protocol/errors.js';
import type { Connection } from './connection.js';
import { CoordinatorRoute } from './coordinator-route.js';
import { clientLogger, type Logger } from './logger.js';
import { ClientClosedError, InvalidArgumentError } from './errors.js';
import type { MetadataCache } from './metadata-cache.js';
import { bootstrapUrls } from './broker-list.js';
import { BrokerPool, type ClientOptions } from './broker-pool.js';
import { groupOptions, type GroupConsumerOptions } from './group-options.js';
import { GroupSession, type GroupPartitionControl } from './group-session.js';
import { PartitionFetcher, type Batch, type Delivery, type OffsetReset, type PartitionState } from './partition-fetcher.js';
import type { Message, TopicPartition } from './types.js';

export type { Batch, OffsetReset } from './partition-fetcher.js';
export type SeekTarget = number | 'earliest' | 'latest' | { timestamp: number | Date };

export interface ConsumerOptions extends ClientOptions, GroupConsumerOptions {
  autoOffsetReset?: OffsetReset;
  /** Long-poll wait of a fetch when no data is there. Default 500 ms. */
  maxWaitMs?: number;
  minBytes?: number;
  /**
   * Cap on one fetch response. Default 4 MiB, or maxPartitionBytes if larger: bigger
   * responses only mean more fetched bytes alive at once. Replay of 1 M x 100 B, same
   * broker, interleaved, medians of 5: from 16 partitions 2.71 M msgs/s with 16 MiB,
   * 3.12 M with 4 MiB; from 4 partitions 2.73 M and 3.07 M; from one, no difference.
   * Partitions that just returned records go to the back of the next request, so a small
   * cap does not starve the partitions after the first.
   */
  maxBytes?: number;
  /**
   * Cap per partition in one fetch. Default 4 MiB. Fetched records are decoded and
   * delivered at most 1024 at a time whatever this is (a bounded set of live Message
   * objects for the GC; see MessageDecoder), so this only trades round trips against
   * response size. Replay of 100 B
   * messages, 1 partition, same broker, interleaved, medians of 3: 1 MiB 2.79 M, 2 MiB
   * 2.97 M, 4 MiB 3.44 M, 8 MiB 2.73 M, 16 MiB 2.71 M msgs/s. The first batch is always
   * returned whole, so a batch larger than this still flows.
   */
  maxPartitionBytes?: number;
  /** Fetched, undelivered bytes above which fetching pauses. Default 32 MiB. */
  maxBufferedBytes?: number;
  /** Backoff after a failed fetch. Default 200 ms. */
  retryBackoffMs?: number;
}

export interface RunOptions {
  eachBatch?: (batch: Batch) => Promise<void> | void;
  eachMessage?: (message: Message) => Promise<void> | void;
}

export class Consumer {
  /** The home connection (client/broker-pool.ts): groups and metadata; fetches go to leaders. */
  readonly conn: Connection;
  private readonly pool: BrokerPool;
  private readonly meta: MetadataCache;
  private readonly autoOffsetReset: OffsetReset;
  private readonly log: Logger;
  private readonly fetcher: PartitionFetcher;
  private closed = false;
  /** A run() handler or a `for await` body has a message (close() must not wait for it: it may be the caller). */
  private handling = false;
  private finishing: Promise<void> | undefined;
  /** Group mode only (undefined without groupId). */
  private readonly group: GroupSession | undefined;

  constructor(opts: ConsumerOptions = {}) {
    this.autoOffsetReset = opts.autoOffsetReset ?? 'earliest';
    if (!['earliest', 'latest', 'none'].includes(this.autoOffsetReset)) {
      throw new InvalidArgumentError(`autoOffsetReset must be 'earliest', 'latest' or 'none'`);
    }
    const retryBackoffMs = opts.retryBackoffMs ?? 200;
    this.log = clientLogger(opts);
    this.pool = new BrokerPool(bootstrapUrls(opts), { ...opts, logger: this.log }, opts.connectionFactory);
    this.conn = this.pool.home;
    this.meta = this.pool.meta;
    const g = groupOptions(opts);
    this.fetcher = new PartitionFetcher(this.pool, {
      autoOffsetReset: this.autoOffsetReset,
      maxWaitMs: opts.maxWaitMs ?? 500,
      minBytes: opts.minBytes ?? 1,
      maxBytes: opts.maxBytes ?? Math.max(4 * 1024 * 1024, opts.maxPartitionBytes ?? 0),
      maxPartitionBytes: opts.maxPartitionBytes ?? 4 * 1024 * 1024,
      maxBufferedBytes: opts.maxBufferedBytes ?? 32 * 1024 * 1024,
      retryBackoffMs,
      groupId: g.groupId,
      logger: this.log,
    });
    if (g.groupId) {
      const route = new CoordinatorRoute(this.pool, g.groupId, { retryBackoffMs, logger: this.log });
      this.group = new GroupSession(route, this.groupControl(), {
        g, sessionTimeoutMs: opts.sessionTimeoutMs, rebalanceTimeoutMs: opts.rebalanceTimeoutMs,
        autoOffsetReset: this.autoOffsetReset, retryBackoffMs, logger: this.log,
      });
    }
  }

  async connect(): Promise<void> {
    await this.conn.connect();
    if (!this.closed) this.group?.join();
  }

  // --- group mode ----------------------------------------------------------------

  private groupControl(): GroupPartitionControl {
    const f = this.fetcher;
    return {
      startFetching: (starts) => {
        const added: TopicPartition[] = [];
        for (const { topic, partition, offset } of starts) {
          if (f.add(topic, partition, offset, { kind: this.autoOffsetReset as 'earliest' | 'latest' }, offset >= 0)) added.push({ topic, partition });
        }
        this.start();
        f.wakeLoop();
        return added;
      },
      stopFetching: (tps) => f.pause(tps),
      forget: (tps) => f.remove(tps),
      positions: (tps) => {
        const out: { topic: string; partition: number; offset: number }[] = [];
        for (const tp of tps ?? [...f.states.values()]) {
          const s = f.get(tp);
          if (s) out.push({ topic: s.topic, partition: s.partition, offset: s.position });
        }
        return out;
      },
      fail: (err) => f.fail(err),
    };
  }

  /** The member id and epoch in the group (memberId '' before the first heartbeat answer). */
  groupMember(): { memberId: string; memberEpoch: number } | undefined {
    return this.group ? { memberId: this.group.member.memberId, memberEpoch: this.group.member.memberEpoch } : undefined;
  }

  /**
   * Commits positions (last delivered + 1) of the given partitions, or of every owned one
   * that moved since its last commit. Resolves when the broker has them durably. A commit
   * refused for a stale epoch (a rebalance raced it) is retried once after a heartbeat.
   */
  async commit(tps?: readonly TopicPartition[]): Promise<void> {
    if (!this.group) throw new InvalidArgumentError('commit() needs a groupId');
    return this.group.commit(tps);
  }

  private markIdle(): void {
    this.group?.markIdle();
  }

  // --- assignment and positions ------------------------------------------------------

  /**
   * Adds partitions to read: a topic name (all its partitions) or a list. New partitions
   * start per autoOffsetReset unless seek() is called before reading.
   */
  async assign(what: string | readonly TopicPartition[]): Promise<void> {
    if (this.closed) throw new ClientClosedError('consumer');
    if (this.group) throw new InvalidArgumentError('a consumer with a groupId gets its partitions from the group; assign() is not allowed');
    let tps: readonly TopicPartition[];
    if (typeof what === 'string') {
      const n = await this.meta.partitionCount(what);
      tps = Array.from({ length: n }, (_, partition) => ({ topic: what, partition }));
    } else {
      for (const t of new Set(what.map((x) => x.topic))) {
        const n = await this.meta.partitionCount(t);
        for (const tp of what) {
          if (tp.topic === t && (!Number.isInteger(tp.partition) || tp.partition < 0 || tp.partition >= n)) {
            throw new BrokerError(ERRORS.UNKNOWN_TOPIC_OR_PARTITION.code, `topic '${t}' has no partition ${tp.partition} (it has ${n})`);
          }
        }
      }
      tps = what;
    }
    const reset = this.autoOffsetReset === 'none' ? null : { kind: this.autoOffsetReset };
    for (const { topic, partition } of tps) this.fetcher.add(topic, partition, -1, reset);
    this.fetcher.wakeLoop();
  }

  assignment(): TopicPartition[] {
    return [...this.fetcher.states.values()].map(({ topic, partition }) => ({ topic, partition }));
  }

  /** Sets where `tp` is read from next; drops what was already fetched for it. */
  seek(tp: TopicPartition, target: SeekTarget): void {
    const s = this.fetcher.get(tp);
    if (!s) throw new InvalidArgumentError(`${tp.topic}/${tp.partition} is not assigned; call assign() first`);
    s.epoch++;
    s.skipBeforeTs = -1;
    if (typeof target === 'number') {
      if (!Number.isInteger(target) || target < 0) throw new InvalidArgumentError(`offset must be an integer >= 0, not ${target}`);
      s.reset = null;
      s.position = s.fetchOffset = target;
    } else if (target === 'earliest' || target === 'latest') {
      s.reset = { kind: target };
    } else if (target && typeof target === 'object' && 'timestamp' in target) {
      const ts = target.timestamp instanceof Date ? target.timestamp.getTime() : target.timestamp;
      if (!Number.isFinite(ts) || ts < 0) throw new InvalidArgumentError(`timestamp must be ms since epoch >= 0`);
      s.reset = { kind: 'time', ts };
    } else {
      throw new InvalidArgumentError(`seek target must be an offset, 'earliest', 'latest' or {timestamp}`);
    }
    s.retryAt = 0;
    this.fetcher.wakeLoop();
  }

  /** The offset after the last message handled from `tp`: what a commit sends (-1 while not yet known). */
  position(tp: TopicPartition): number {
    return this.fetcher.get(tp)?.position ?? -1;
  }


  private start(): void {
    if (!this.closed) this.group?.join();
    this.fetcher.start();
  }

  /**
   * Calls `eachBatch` (or `eachMessage`) for everything read, one call at a time, until
   * close() or an error (which rejects).
   *
   * A position moves past a message (or batch) only once its handler has resolved, so every
   * commit (automatic, commit(), before a partition is released, on close()) covers only
   * handled messages, as KafkaJS resolves offsets. When a handler throws, run() rejects with
   * that error and the partition is set back to the failed message, dropping what was fetched
   * after it: it is not committed, a later run() (or iteration) delivers it again, and after
   * close() the group delivers it again to whichever member gets the partition. (For
   * eachBatch the whole batch is delivered again.) A seek() from inside a handler takes
   * effect from the next message.
   *
   * close() while a handler runs (for instance from inside it, to stop after this message)
   * stops delivery at once, commits what was handled before that message and resolves
   * without waiting for the handler (which may be awaiting it); run() then commits the
   * message too if its handler resolves, leaves the group and closes the connection, and
   * resolves once that is done.
   */
  async run(opts: RunOptions): Promise<void> {
    if (!opts.eachBatch && !opts.eachMessage) throw new InvalidArgumentError('run() needs eachBatch or eachMessage');
    while (!this.closed) {
      const d = await this.nextBatch();
      if (!d) break;
      const { batch: b, state: s, epoch } = d;
      // Revoked, sought or rewound since it left the queue (nextBatch says how): not handed out.
      if (s.epoch !== epoch) continue;
      this.group?.markBusy();
      this.handling = true;
      try {
        if (opts.eachBatch) {
          await opts.eachBatch(b);
          if (handled(s, epoch)) s.position = b.messages[b.messages.length - 1].offset + 1;
        } else {
          for (const m of b.messages) {
            if (s.epoch !== epoch || this.closed) break;
            this.group?.markBusy();
            await opts.eachMessage!(m);
            if (handled(s, epoch)) s.position = m.offset + 1;
          }
        }
      } catch (err) {
        // Not past the failed message: what was fetched after it is dropped and fetched
        // again from it, so it is delivered again rather than skipped.
        if (s.epoch === epoch && !this.closed) this.fetcher.rewind(s);
        throw err;
      } finally {
        this.handling = false;
        this.markIdle();
        if (this.closed) await this.finishClose();
      }
    }
    if (this.closed) await this.finishClose();
  }

  private nextBatch(): Promise<Delivery | null> {
    this.start();
    return this.fetcher.nextBatch();
  }

  /**
   * `for await (const m of consumer)`: every message, until close(). At-least-once, as run():
   * a message counts as handled when the loop asks for the next one, so the position (what
   * commits send) moves past it only then. Leaving the loop with `break`, `return` or a throw
   * closes the consumer and commits up to, not including, the message the body was handling:
   * the group delivers that message again (as KafkaJS does for an eachMessage that did not
   * finish). close() from inside the body (or elsewhere while the body runs) commits what
   * was handled before the current message; if the body then finishes normally, the loop's
   * next pull commits that message too and ends the loop.
   */
  [Symbol.asyncIterator](): AsyncIterator<Message> {
    let batch: Message[] = [];
    let i = 0;
    let state: PartitionState | null = null;
    let epoch = 0;
    /** The message the loop body has; handled once the loop asks for the next one. */
    let current: Message | null = null;
    const done: IteratorResult<Message> = { value: undefined, done: true };
    return {
      next: async (): Promise<IteratorResult<Message>> => {
        if (current) {
          if (handled(state!, epoch)) state!.position = current.offset + 1;
          current = null;
          this.handling = false;
        }
        this.markIdle();
        for (;;) {
          if (this.closed) {
            await this.finishClose();
            return done;
          }
          if (i < batch.length && state!.epoch === epoch) {
            const m = batch[i++];
            current = m;
            this.handling = true;
            this.group?.markBusy();
            return { value: m, done: false };
          }
          const d = await this.nextBatch();
          if (!d) return done;
          // The epoch it left the queue under: if it changed since (nextBatch says how), the
          // check above hands none of it out.
          batch = d.batch.messages;
          i = 0;
          state = d.state;
          epoch = d.epoch;
        }
      },
      return: async (): Promise<IteratorResult<Message>> => {
        // The body left the loop inside its message: that message is not handled.
        current = null;
        this.handling = false;
        await this.close();
        return done;
      },
    };
  }

  /**
   * Stops fetching, commits what was handled (auto-commit), leaves the group and closes the
   * connection; a pending `for await` ends. While a run() handler or a `for await` body has a
   * message, resolves once what was handled before that message is committed, and run() or
   * the loop's next pull (or its exit) finishes the rest (see run() and the async iterator).
   */
  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      if (this.handling) await this.group?.commitHandled();
    }
    if (this.handling) return;
    await this.finishClose();
  }

  private finishClose(): Promise<void> {
    return (this.finishing ??= (async () => {
      if (this.group) await this.group.close();
      this.fetcher.close();
      await this.pool.close();
      await this.fetcher.stopped();
    })());
  }
}

/**
 * Whether a handler that resolved may move the position past its message: not after a
 * seek() or an offset reset (they set the position), but yes for a partition being
 * revoked, whose position is what its release commits.
 */
function handled(s: PartitionState, epoch: number): boolean {
  return s.epoch === epoch || s.revoked === true;
}
