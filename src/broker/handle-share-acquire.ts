/**
 * ShareAcquire (api 1100): locks up to maxRecords records of the topics for the worker and
 * returns them: the stored batches covering them, cut down to the acquired records
 * (share-read.ts; the client still keeps only records inside `acquired`). Also the worker's heartbeat: maxRecords 0 answers at once.
 *
 * Long poll: when nothing can be acquired the request parks, a delayed operation
 * (purgatory.ts), until maxWaitMs passes. It retries when an append wakes it (as Fetch
 * does), when its group's records are released or a worker leaves (shareGroupKey), and on
 * every share tick (SHARE_TICK_KEY), because records also become available by time alone
 * (lock expiry, end of a backoff). Attempts never overlap; a closed connection ends the wait
 * without acquiring (its worker has left, and records locked now would stay locked for nobody).
 *
 * Settings (visibility timeout, attempts, limits, ...) a worker gives create the group when it
 * does not exist; an existing group keeps its config. A worker's acquires until its first
 * answer (its join) also say `checkSettings`: then settings that differ from the existing
 * group's are refused (INCONSISTENT_GROUP_PROTOCOL, share-settings.ts refuseOtherSettings)
 * before the worker is bound or anything is acquired. Only the join is checked, so a
 * worker that joined is never refused later because an admin altered the group under it
 * (after a reconnect or a coordinator move as well), and the acquires of a running worker
 * pay nothing for it. A client before the flag is never compared (its settings went with
 * every acquire, and it would be refused by every acquire after an alter).
 */
import type { Api, ShareAckResult, ShareAcquirePartitionResult, ShareAcquireResponse } from '../protocol/api.js';
import type { ShareAcquireRequest } from '../protocol/api-table.js';
import { isInternalTopicName } from '../topic-name.js';
import type { PartitionSource } from '../queue/share-coordinator.js';
import type { BrokerContext, RequestScope } from './context.js';
import { partitionKey, shareGroupKey, SHARE_TICK_KEY } from './purgatory.js';
import { holdBackDelayed } from './share-delayed.js';
import { pickSettings, refuseOtherSettings } from './share-settings.js';
import { jobSource, type JobSource } from './job-source.js';
import type { ShareService } from './share-service.js';
import { shareServiceFor } from './share-coordinators.js';
import { errorOf, wireError } from './wire-error.js';
import { settleUnits } from './share-settle.js';
import { owe, pushOwed, takeOwed, taken } from './share-acks-owed.js';
import type { Handler } from './handler.js';
import { consumerAnswerBound } from './client-quotas.js';
import { AcquireByteBound } from './share-acquire-bound.js';

const EMPTY = Buffer.alloc(0);
/**
 * How long records whose read failed wait before they are offered again: a partition whose
 * leader is moving answers again within about this, and a broken one is not read in a loop.
 */
export const READ_RETRY_MS = 500;

function offsetsOf(r: { firstOffset: number; lastOffset: number }): number[] {
  return Array.from({ length: r.lastOffset - r.firstOffset + 1 }, (_, i) => r.firstOffset + i);
}

export const handleShareAcquire: Handler<typeof Api.ShareAcquire> = async (ctx, req, scope) => {
  const svc = shareServiceFor(ctx, req.groupId);
  const { groupId, workerId } = req;
  if (req.settings) {
    const g = svc.coord.group(groupId);
    if (!g) svc.coord.configure(groupId, pickSettings(req.settings));
    else if (req.checkSettings === true) refuseOtherSettings(groupId, g.config, req.settings, req.topics, svc.coord.defaults);
  }
  svc.bindWorker(scope, groupId, workerId);
  // Settles carried by the acquire, applied before it (their freed slots count for it) and
  // in the same tick, so the acquisition's state change shares their write. Their outcome is
  // told once durable, not in this answer: that would make every acquire wait for an fsync
  // (share-acks-owed.ts: with a later answer, or pushed).
  const carried = req.acks && takeAcks(ctx, svc, groupId, req.acks, scope);
  try {
    return await acquire(ctx, svc, req, scope, carried !== undefined);
  } catch (err) {
    // The client takes an error answer that no outcome came before as "acks not taken" and
    // sends them again as a ShareAck: once taken, their outcome must go out first.
    if (carried) {
      await carried;
      if (scope) pushOwed(scope);
    }
    throw err;
  }
};

/**
 * Applies the settles `acks` carries (share-settle.ts) and, once their commit is durable (at
 * once when none changed anything), owes their outcome to the request's connection
 * (share-acks-owed.ts). A failed commit fails every entry with its error. Resolves once
 * owed; never rejects.
 */
function takeAcks(ctx: BrokerContext, svc: ShareService, groupId: string, acks: NonNullable<ShareAcquireRequest['acks']>, scope: RequestScope | undefined): Promise<void> {
  const { results, durable } = settleUnits(ctx, svc, groupId, acks.workers, scope, 'ShareAcquire');
  const tell = (rs: ShareAckResult[][]): void => owe(scope, { groupId, seq: acks.seq, workers: rs.map((r) => ({ results: r })) }, acks.later === true);
  if (!durable) {
    tell(results);
    return Promise.resolve();
  }
  const done = durable.then(() => tell(results), (err: unknown) => {
    const error = wireError(err, ctx.log, { api: 'ShareAcquire', group: groupId });
    tell(results.map((r) => r.map((x) => (x.error ? x : { error }))));
  });
  taken(scope, done);
  return done;
}

async function acquire(ctx: BrokerContext, svc: ShareService, req: ShareAcquireRequest, scope: RequestScope | undefined, acksTaken: boolean): Promise<ShareAcquireResponse> {
  const { groupId, workerId } = req;

  const errors: ShareAcquirePartitionResult[] = [];
  const known: string[] = [];
  for (const topic of new Set(req.topics)) {
    if (isInternalTopicName(topic)) errors.push(failed(topic, errorOf('INVALID_TOPIC', `'${topic}' is an internal topic`)));
    else if (!ctx.logs.topic(topic)) errors.push(failed(topic, errorOf('UNKNOWN_TOPIC_OR_PARTITION', `unknown topic '${topic}'`)));
    else known.push(topic);
  }
  let attempted = false;
  /**
   * The worker's holder token when its records were locked (the attempt that acquired them),
   * not when the answer leaves: reads and the state commit await in between, and a worker
   * whose session ended meanwhile and came back has a new token its locks do not belong to.
   */
  let acquiredUnder: string | undefined;
  const jobs = jobSource(ctx);
  const quotaBytes = consumerAnswerBound(ctx.quotas, scope);
  const stillBound = (): boolean => !scope?.closed && svc.isBound(scope, groupId, workerId);
  const attempt = async (): Promise<ShareAcquirePartitionResult[] | undefined> => {
    if (!stillBound()) return undefined;
    // A parked retry must not bring back a group deleted meanwhile, with broker defaults in
    // place of this worker's settings: its next acquire recreates it properly.
    if (attempted && !svc.coord.group(groupId)) return undefined;
    attempted = true;
    const sources = jobs.partitions(known);
    if (req.maxRecords > 0) {
      const existed = svc.coord.group(groupId) !== undefined;
      await startLatestAtLeader(svc, jobs, groupId, workerId, sources, stillBound);
      // Requests of one connection run at once (request-pipeline.ts): this worker's leave,
      // its connection's close or the group's delete may have run during that await (a
      // broker that read the last long poll and close()'s leave in one go runs the leave
      // there). Acquiring now would register the worker again, bound to no connection, and
      // lock records to it until its session and their locks expire (test/broker/
      // handle-share-leave.test.ts), or bring a deleted group back with broker defaults.
      if (!stillBound() || (existed && !svc.coord.group(groupId))) return undefined;
    }
    const got = svc.coord.acquire(groupId, workerId, sources, req.maxRecords);
    if (got.length === 0) return undefined;
    acquiredUnder = svc.holderOf(groupId, workerId);
    // The reads do not need the state write: they start with it, so a pick-up waits for the
    // longer of the two instead of both in turn (both are hand-offs to libuv's pool, slow on
    // a loaded machine: docs/queue-performance.md, "Pick-up latency"). What they bring is
    // used once the commit resolved, in the order it was before.
    const reads = got.map((g) => settle(jobs.read(g.topic, g.partition, g.ranges)));
    await svc.commit([], false);
    let redelivered = 0;
    const out: ShareAcquirePartitionResult[] = [];
    const bound = new AcquireByteBound(quotaBytes);
    for (let i = 0; i < got.length; i++) {
      const g = got[i];
      redelivered += g.redelivered;
      try {
        const records = unsettled(await reads[i]);
        // Records whose delivery time has not come go back to wait for it (share-delayed.ts);
        // the answer then holds only the records the worker keeps.
        const acquired = holdBackDelayed(svc.coord, groupId, workerId, g.topic, g.partition, g.ranges, records, Date.now());
        if (!acquired.length) continue;
        let kept = { acquired, records: acquired === g.ranges ? records : await jobs.read(g.topic, g.partition, acquired) };
        // Under a fetch quota, only what the answer's byte bound holds (share-acquire-bound.ts).
        if (!bound.unbounded) {
          kept = await bound.fit(kept.acquired, kept.records, (r) => jobs.read(g.topic, g.partition, r),
            (offsets) => svc.coord.delay(groupId, workerId, g.topic, g.partition, offsets.map((off) => [off, Date.now()] as const)));
        }
        if (kept.acquired.length) out.push({ topic: g.topic, partition: g.partition, acquired: kept.acquired, lockDeadline: g.lockDeadline, records: kept.records });
      } catch (err) {
        // No worker saw these records: they are given back as never taken (delivery count
        // unchanged) and offered again READ_RETRY_MS from now. Left locked to this worker,
        // which cannot see them, they came back only when the lock expired, a visibility
        // timeout later and counted as a failed attempt: a coordinator that has just moved
        // cannot read a partition whose leader moved with it, and a delayed job taken then
        // reached its worker at count 2 (test/cluster/share-delayed-moves.test.ts).
        const retryAt = Date.now() + READ_RETRY_MS;
        svc.coord.delay(groupId, workerId, g.topic, g.partition, g.ranges.flatMap((r) => offsetsOf(r).map((off) => [off, retryAt] as const)));
        out.push({ ...failed(g.topic, wireError(err, ctx.log, { topic: g.topic, partition: g.partition })), partition: g.partition });
      }
    }
    if (redelivered) ctx.metrics.redelivered(groupId, redelivered);
    return out.length ? out : undefined; // all delayed: wait as if nothing was there
  };

  const first = known.length ? await attempt() : undefined;
  const maxWait = Math.min(req.maxWaitMs, ctx.config.maxFetchWaitMs);
  if (first || req.maxRecords === 0 || known.length === 0 || maxWait === 0 || !ctx.accepting || !svc.accepting || scope?.closed) {
    return answer(svc, req, [...errors, ...(first ?? [])], acquiredUnder, acksTaken, scope);
  }
  const parts = await park(ctx, svc, groupId, known, maxWait, attempt, scope);
  return answer(svc, req, [...errors, ...parts], acquiredUnder, acksTaken, scope);
}

/** The answer, with the holder token, `acksTaken`, and the outcomes of carried settles owed to the group on this connection. */
function answer(svc: ShareService, req: ShareAcquireRequest, partitions: ShareAcquirePartitionResult[], acquiredUnder: string | undefined, acksTaken: boolean, scope: RequestScope | undefined): ShareAcquireResponse {
  const res: ShareAcquireResponse = withHolder(svc, req, { id: req.id, partitions }, acquiredUnder);
  if (acksTaken) res.acksTaken = true;
  const acked = takeOwed(scope, req.groupId);
  if (acked) res.acked = acked;
  return res;
}

/**
 * A group with startFrom 'latest' meeting a partition for the first time starts it at the
 * partition leader's end (JobSource.latestAtLeader): where it is read from a follower replica,
 * the end the follower knows lags. Only partitions the group has not started pay the request.
 */
async function startLatestAtLeader(svc: ShareService, jobs: JobSource, groupId: string, workerId: string, sources: readonly PartitionSource[], stillBound: () => boolean): Promise<void> {
  let g = svc.coord.group(groupId);
  if ((g?.config ?? svc.coord.defaults).startFrom !== 'latest') return;
  for (const s of sources) {
    if (g?.existing(s.topic, s.partition)) continue;
    const end = await jobs.latestAtLeader(s.topic, s.partition).catch(() => undefined);
    // The worker left (or its connection closed) during the await: the heartbeat below would register it again.
    if (!stillBound()) return;
    if (end === undefined) continue;
    if (!g) {
      svc.coord.heartbeat(groupId, workerId);
      g = svc.coord.group(groupId);
    }
    svc.coord.startPartitionsAt(groupId, s.topic, [{ partition: s.partition, offset: end, logEndOffset: s.logEndOffset }]);
  }
}

/**
 * The answer with the worker's holder token (ShareService.holderOf): the one its records were
 * acquired under when it carries records (`acquiredUnder`), else the token as of now, when
 * the group knows the worker. A worker that left and came back while its records were read
 * so gets the old token with them, and drops them at its next heartbeat's new one
 * (test/broker/share-holder.test.ts), instead of taking them for locks of its new handle.
 */
function withHolder(svc: ShareService, req: { groupId: string; workerId: string }, res: ShareAcquireResponse, acquiredUnder: string | undefined): ShareAcquireResponse {
  const holder = acquiredUnder ?? svc.holderOf(req.groupId, req.workerId);
  if (holder !== undefined) res.holder = holder;
  return res;
}

/**
 * Waits as a delayed operation (purgatory.ts) until an attempt acquires something or maxWait
 * passes (then nothing: acquiring is the attempt's job, and the try that was running when
 * the wait ran out has already had its chance; its records, if any, are the answer).
 */
async function park(
  ctx: BrokerContext, svc: ShareService, groupId: string, topics: string[], maxWait: number,
  attempt: () => Promise<ShareAcquirePartitionResult[] | undefined>, scope?: RequestScope,
): Promise<ShareAcquirePartitionResult[]> {
  const keys = [shareGroupKey(groupId), SHARE_TICK_KEY];
  for (const t of topics) for (let p = 0; p < (ctx.logs.topic(t)?.partitions ?? 0); p++) keys.push(partitionKey(t, p));
  const out = await ctx.delayed.watch<ShareAcquirePartitionResult[]>({
    // Shutting down: answer empty rather than lock records the state log may not persist.
    tryComplete: () => (ctx.accepting && svc.accepting ? attempt() : Promise.resolve([])),
    onExpire: () => [],
  }, { kind: 'share_acquire', keys, timeoutMs: maxWait, scope });
  return out ?? []; // undefined: the connection closed
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** `p` as a promise that never rejects: one left waiting while another is awaited is no unhandled rejection. */
function settle<T>(p: Promise<T>): Promise<Settled<T>> {
  return p.then((value) => ({ ok: true, value }), (error: unknown) => ({ ok: false, error }));
}

/** The value settle() kept, or its error thrown again. */
function unsettled<T>(s: Settled<T>): T {
  if (!s.ok) throw s.error;
  return s.value;
}

function failed(topic: string, error: NonNullable<ShareAcquirePartitionResult['error']>): ShareAcquirePartitionResult {
  return { topic, partition: -1, error, acquired: [], lockDeadline: 0, records: EMPTY };
}
