/**
 * Fetch (api 1), a long poll. Reads every partition; if the reads hold at least minBytes
 * (or maxWaitMs is 0, or a partition failed) the response goes out at once. Otherwise the
 * fetch is a delayed operation (purgatory.ts) watching each of its partitions: it re-reads
 * only when an append to one of them wakes it, until minBytes is met, and reads once more
 * when maxWaitMs passes or its topic is deleted. Broker shutdown ends the wait early; a
 * closed connection ends it without reading.
 *
 * `records` is the Buffer storage returned: whole stored batches, never re-encoded. The
 * response's maxBytes is a budget across partitions, as in Kafka (KIP-74): only the first
 * partition with data may exceed it (its first batch is always whole, so a consumer never
 * stalls on a big batch); later partitions return the whole batches that fit, or nothing.
 * Without that, every partition after the first got one batch over the budget per fetch,
 * and the client's rotation counted that sliver as its turn.
 *
 * Records are read into the broker's read pool; an outcome that is not sent (a long poll
 * that reads again) hands its buffers back at once.
 *
 * Each read first reserves its bytes against the connection's and the broker's output
 * budgets (output-budget.ts), waiting for room, and reads no more than was granted (the
 * first batch excepted, as above). It asks for at least maxBatchBytes: a read granted less
 * than a batch holds all the room left, so at most one read at a time can overshoot its
 * grant, by at most one batch. After the read the reservation shrinks to what was read and
 * travels with the response until the connection queues it on the socket.
 *
 * Cluster mode (ctx.replicas set, docs/cluster.md): only the partition's leader answers
 * (else NOT_LEADER_OR_FOLLOWER), and a `currentLeaderEpoch` other than its own is
 * FENCED_LEADER_EPOCH (older) or UNKNOWN_LEADER_EPOCH (newer). A replica fetch (`replicaId`)
 * reads up to the log end and tells the leader how far that follower has got, which may move
 * the high watermark; a consumer reads only whole batches below the high watermark, so it
 * never sees a record a failover could take back. `highWatermark` is the leader's. A parked
 * replica fetch is woken by the leader's appends, a consumer's by high watermark moves.
 *
 * Metrics count what the answer carries (records from batch headers, bytes, per-partition
 * errors), once per fetch however many re-reads its long poll made.
 */
import type { Api, FetchRequest, FetchResponse, FetchPartitionResult } from '../protocol/api.js';
import type { BrokerContext, RequestScope } from './context.js';
import type { PartitionLog } from '../storage/types.js';
import { partitionKey, replicaFetchKey } from './purgatory.js';
import { Leadership } from '../replication/replica-manager.js';
import { errorOf, wireError } from './wire-error.js';
import { resolveLog } from './topic-access.js';
import { countRecords } from './count-records.js';
import { errorName } from '../protocol/errors.js';
import type { Handler } from './handler.js';
import { topicRefusal } from './authorize.js';
import { consumerAnswerBound } from './client-quotas.js';

const EMPTY = Buffer.alloc(0);

interface ReadOutcome {
  partitions: FetchPartitionResult[];
  bytes: number;
  failed: boolean;
  /** Bytes of output budget this outcome holds (its records, when read on a connection). */
  reserved: number;
}

const nothing = (): ReadOutcome => ({ partitions: [], bytes: 0, failed: false, reserved: 0 });

export const handleFetch: Handler<typeof Api.Fetch> = async (ctx, req, scope) => {
  // Under a fetch quota an answer carries at most the quota's burst (whole batches that fit in
  // it), which may never reach minBytes: any record meets it then, or the poll would hold what
  // the quota allows until maxWaitMs (the rate is the quota's either way).
  const bound = quotaBound(ctx, req, scope);
  const minBytes = bound === Infinity ? req.minBytes : Math.min(req.minBytes, 1);
  const first = await readAll(ctx, req, scope, bound);
  const maxWait = Math.min(req.maxWaitMs, ctx.config.maxFetchWaitMs);
  if (first.bytes >= minBytes || first.failed || maxWait === 0 || !ctx.accepting || scope?.closed) {
    return respond(ctx, req, first, scope);
  }
  giveBack(ctx, first, scope);
  // Cluster mode: a replica fetch waits for the leader's appends, a consumer's for the high watermark.
  const key = ctx.replicas !== undefined && req.replicaId !== undefined ? replicaFetchKey : partitionKey;
  const keys = new Array<string>(req.partitions.length);
  for (let i = 0; i < keys.length; i++) keys[i] = key(req.partitions[i].topic, req.partitions[i].partition);
  const out = await ctx.delayed.watch<ReadOutcome>({
    tryComplete: async () => {
      const out = await readAll(ctx, req, scope, bound);
      if (out.bytes >= minBytes || out.failed) return out;
      giveBack(ctx, out, scope);
      return undefined;
    },
    // The wait is over: answer with what there is now, below minBytes or empty.
    onExpire: () => readAll(ctx, req, scope, bound),
    discard: (out) => giveBack(ctx, out, scope),
  }, { kind: 'fetch', keys, timeoutMs: maxWait, scope });
  // undefined: the connection closed, and no one reads the answer.
  return respond(ctx, req, out ?? nothing(), scope);
};

function respond(ctx: BrokerContext, req: FetchRequest, out: ReadOutcome, scope: RequestScope | undefined): FetchResponse {
  const res = { id: req.id, partitions: counted(ctx, out.partitions) };
  scope?.holdUntilSent(res, out.reserved);
  return res;
}

/** Returns the read buffers and the output budget of an outcome that will not be sent. */
function giveBack(ctx: BrokerContext, out: ReadOutcome, scope: RequestScope | undefined): void {
  for (const p of out.partitions) if (p.records.length > 0) ctx.readPool.release(p.records);
  if (out.reserved !== 0) scope?.adjustOutput(-out.reserved);
}

function counted(ctx: BrokerContext, partitions: FetchPartitionResult[]): FetchPartitionResult[] {
  const m = ctx.metrics;
  if (!m.enabled) return partitions;
  for (let i = 0; i < partitions.length; i++) {
    const p = partitions[i];
    if (p.error) m.partitionError('Fetch', errorName(p.error.code));
    else if (p.records.length > 0) m.fetched(p.topic, countRecords(p.records as Buffer), p.records.length);
  }
  return partitions;
}

async function readAll(ctx: BrokerContext, req: FetchRequest, scope: RequestScope | undefined, bound: number): Promise<ReadOutcome> {
  const parts = req.partitions;
  if (parts.length === 0) return nothing();
  const granted = scope ? await scope.reserveOutput(Math.max(req.maxBytes, ctx.config.maxBatchBytes)) : req.maxBytes;
  if (granted === 0) return nothing(); // the connection closed while waiting: no one to read for
  try {
    const out = await readWithin(ctx, req, Math.min(req.maxBytes, granted, bound), scope);
    if (scope) {
      scope.adjustOutput(out.bytes - granted);
      out.reserved = out.bytes;
    }
    return out;
  } catch (err) {
    scope?.adjustOutput(-granted);
    throw err;
  }
}

/** A consumer fetch under a fetch quota answers at most the quota's burst (ClientQuotas.maxFetchBytes); else no bound. */
function quotaBound(ctx: BrokerContext, req: FetchRequest, scope: RequestScope | undefined): number {
  return req.replicaId !== undefined ? Infinity : consumerAnswerBound(ctx.quotas, scope);
}

/**
 * Partitions whose segment file is opened ahead of their read. A broker with more partitions
 * than open-file slots reopens most of a wide fetch's files; read one after another, each
 * waited for its open (a thread-pool round trip), and a fetch of 20,000 partitions took 24 s
 * (test/integration/open-files.test.ts). 16 ahead keeps the pool busy; far below any budget,
 * so the prefetched handles are still open when their reads come.
 */
const PREFETCH_AHEAD = 16;

function prefetch(ctx: BrokerContext, parts: FetchRequest['partitions'], i: number): void {
  if (i >= parts.length) return;
  const p = parts[i];
  ctx.logs.log(p.topic, p.partition)?.prefetch?.(p.offset);
}

async function readWithin(ctx: BrokerContext, req: FetchRequest, maxBytes: number, scope: RequestScope | undefined): Promise<ReadOutcome> {
  const parts = req.partitions;
  const partitions: FetchPartitionResult[] = new Array(parts.length);
  let budget = maxBytes;
  let bytes = 0;
  let failed = false;
  const rm = ctx.replicas;
  // auth scram: read on each topic, checked on every pass (an ACL removed during a long poll applies to it).
  const checked = scope?.principal !== undefined ? scope : undefined;
  // Sequential: the response budget decides what the next partition may return.
  if (parts.length > 1) for (let j = 0; j < PREFETCH_AHEAD; j++) prefetch(ctx, parts, j);
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    if (parts.length > 1) prefetch(ctx, parts, i + PREFETCH_AHEAD);
    let log: PartitionLog;
    // Cluster mode: the partition's leadership; a consumer reads below its high watermark.
    let lead: Leadership | undefined;
    const denied = checked === undefined ? undefined : topicRefusal(ctx, checked, 'read', p.topic);
    if (denied !== undefined) {
      failed = true;
      partitions[i] = { topic: p.topic, partition: p.partition, error: denied, highWatermark: -1, logStartOffset: -1, records: EMPTY };
      continue;
    }
    if (rm === undefined) {
      const r = resolveLog(ctx, p.topic, p.partition);
      if (r.error) {
        failed = true;
        partitions[i] = { topic: p.topic, partition: p.partition, error: r.error, highWatermark: -1, logStartOffset: -1, records: EMPTY };
        continue;
      }
      log = r.log;
    } else {
      const l = rm.leaderFor(p.topic, p.partition, p.currentLeaderEpoch);
      const refused = !(l instanceof Leadership) ? l : req.replicaId === undefined ? undefined : rm.followerFetched(l, req.replicaId, p.offset);
      if (refused !== undefined) {
        failed = true;
        partitions[i] = { topic: p.topic, partition: p.partition, error: errorOf(refused.error, refused.message), highWatermark: -1, logStartOffset: -1, records: EMPTY };
        continue;
      }
      lead = l as Leadership;
      log = lead.log;
    }
    if (budget <= 0 && bytes > 0) {
      partitions[i] = { topic: p.topic, partition: p.partition, highWatermark: lead?.highWatermark ?? log.logEndOffset, logStartOffset: log.logStartOffset, records: EMPTY };
      continue;
    }
    try {
      // After the first partition with data, only batches that fit (none read that do not).
      const maxBytes = Math.max(0, Math.min(p.maxBytes, budget));
      const res = lead === undefined
        ? await log.read(p.offset, maxBytes, { pool: ctx.readPool, fitOnly: bytes > 0 })
        : await log.read(p.offset, maxBytes, { pool: ctx.readPool, fitOnly: bytes > 0, maxOffset: req.replicaId === undefined ? lead.highWatermark : undefined });
      const records = res.bytes;
      partitions[i] = { topic: p.topic, partition: p.partition, highWatermark: lead?.highWatermark ?? res.logEndOffset, logStartOffset: res.logStartOffset, records };
      bytes += records.length;
      budget -= records.length;
    } catch (err) {
      failed = true;
      partitions[i] = {
        topic: p.topic, partition: p.partition, error: wireError(err, ctx.log, { topic: p.topic, partition: p.partition }),
        highWatermark: lead?.highWatermark ?? log.logEndOffset, logStartOffset: log.logStartOffset, records: EMPTY,
      };
    }
  }
  return { partitions, bytes, failed, reserved: 0 };
}
