/**
 * ShareAcquire (api 1100): locks up to maxRecords records of the topics for the worker and
 * returns the stored batches covering them (the client keeps only records inside
 * `acquired`). Also the worker's heartbeat: maxRecords 0 answers at once.
 *
 * Long poll: when nothing can be acquired the request parks until maxWaitMs passes. It
 * retries when an append wakes it (FetchWaiters, same as Fetch), and on every share tick
 * or release, because records also become available by time alone (lock expiry, end of a
 * backoff). Attempts never overlap; a closed connection ends the wait without acquiring
 * (its worker has left, and records locked now would stay locked for nobody).
 *
 * The first acquire of a new group may carry settings (visibility timeout, attempts, ...);
 * an existing group keeps its config.
 */
import type { ShareAcquirePartitionResult, ShareAcquireRequest, ShareAcquireResponse, ShareGroupSettings } from '../protocol/api.js';
import type { PartitionSource } from '../queue/share-coordinator.js';
import type { ShareGroupConfig } from '../queue/types.js';
import type { BrokerContext, RequestScope } from './context.js';
import { FetchWaiters, type Waiter } from './fetch-waiters.js';
import { readCovering } from './share-read.js';
import { shareService, type ParkedAcquire, type ShareService } from './share-service.js';
import { errorOf, wireError } from './wire-error.js';

const EMPTY = Buffer.alloc(0);
const SETTING_KEYS = ['visibilityTimeoutMs', 'maxDeliveries', 'retryBackoffMs', 'retryBackoffMaxMs', 'deadLetterTopic', 'sessionTimeoutMs', 'startFrom'] as const;

export async function handleShareAcquire(ctx: BrokerContext, req: ShareAcquireRequest, scope?: RequestScope): Promise<ShareAcquireResponse> {
  const svc = shareService(ctx);
  const { groupId, workerId } = req;
  if (req.settings && !svc.coord.group(groupId)) svc.coord.configure(groupId, pickSettings(req.settings));
  svc.bindWorker(scope, groupId, workerId);

  const errors: ShareAcquirePartitionResult[] = [];
  const known: string[] = [];
  for (const topic of new Set(req.topics)) {
    if (topic.startsWith('__')) errors.push(failed(topic, errorOf('INVALID_TOPIC', `'${topic}' is an internal topic`)));
    else if (!ctx.logs.topic(topic)) errors.push(failed(topic, errorOf('UNKNOWN_TOPIC_OR_PARTITION', `unknown topic '${topic}'`)));
    else known.push(topic);
  }
  let attempted = false;
  const attempt = async (): Promise<ShareAcquirePartitionResult[] | undefined> => {
    if (scope?.closed || !svc.isBound(scope, groupId, workerId)) return undefined;
    // A parked retry must not bring back a group deleted meanwhile, with broker defaults in
    // place of this worker's settings: its next acquire recreates it properly.
    if (attempted && !svc.coord.group(groupId)) return undefined;
    attempted = true;
    const got = svc.coord.acquire(groupId, workerId, sources(ctx, known), req.maxRecords);
    if (got.length === 0) return undefined;
    await svc.commit([], false);
    const deadline = Date.now() + (svc.coord.group(groupId)?.config.visibilityTimeoutMs ?? 0);
    let redelivered = 0;
    const out: ShareAcquirePartitionResult[] = [];
    for (const g of got) {
      redelivered += g.redelivered;
      const log = ctx.logs.log(g.topic, g.partition);
      try {
        if (!log) throw new Error(`partition ${g.topic}/${g.partition} vanished`);
        const records = await readCovering(log, g.ranges[0].firstOffset, g.ranges[g.ranges.length - 1].lastOffset);
        out.push({ topic: g.topic, partition: g.partition, acquired: g.ranges, lockDeadline: deadline, records });
      } catch (err) {
        // The records stay locked to this worker, which cannot see them: they come back when the lock expires.
        out.push({ ...failed(g.topic, wireError(err, ctx.log, { topic: g.topic, partition: g.partition })), partition: g.partition });
      }
    }
    if (redelivered) ctx.metrics.redelivered(groupId, redelivered);
    return out;
  };

  const first = known.length ? await attempt() : undefined;
  const maxWait = Math.min(req.maxWaitMs, ctx.config.maxFetchWaitMs);
  if (first || req.maxRecords === 0 || known.length === 0 || maxWait === 0 || !ctx.accepting || !svc.accepting || scope?.closed) {
    return { id: req.id, partitions: [...errors, ...(first ?? [])] };
  }
  const parts = await park(ctx, svc, groupId, known, maxWait, attempt, scope);
  return { id: req.id, partitions: [...errors, ...parts] };
}

function park(
  ctx: BrokerContext, svc: ShareService, groupId: string, topics: string[], maxWait: number,
  attempt: () => Promise<ShareAcquirePartitionResult[] | undefined>, scope?: RequestScope,
): Promise<ShareAcquirePartitionResult[]> {
  return new Promise((resolve, reject) => {
    const keys: string[] = [];
    for (const t of topics) for (let p = 0; p < (ctx.logs.topic(t)?.partitions ?? 0); p++) keys.push(FetchWaiters.key(t, p));
    let running = false;
    let again = false;
    let done = false;
    // The wait ran out while an attempt was running: that attempt may already hold records
    // (acquired before its awaits), so its answer must go out, not an empty one. After a
    // stall the wake and the wait's timer fire together; answering empty there left the
    // records locked to a worker that never saw them, until their lock expired.
    let expired = false;
    const expire = () => {
      if (running) expired = true;
      else end([]);
    };
    const end = (out: ShareAcquirePartitionResult[] | Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      unClose?.();
      ctx.waiters.remove(waiter, keys);
      svc.unpark(parked);
      if (out instanceof Error) reject(out);
      else resolve(out);
    };
    const retry = () => {
      if (done) return;
      if (running) {
        again = true;
        return;
      }
      if (!ctx.accepting || !svc.accepting) return end([]);
      running = true;
      attempt().then((out) => {
        running = false;
        if (out || expired) return end(out ?? []);
        if (again) {
          again = false;
          retry();
        }
      }, (err: Error) => end(err));
    };
    const waiter: Waiter = { wake: retry, finish: expire };
    const parked: ParkedAcquire = { groupId, retry };
    ctx.waiters.add(waiter, keys);
    svc.park(parked);
    const timer = setTimeout(expire, maxWait);
    const unClose = scope?.onClose(() => end([]));
  });
}

function sources(ctx: BrokerContext, topics: string[]): PartitionSource[] {
  const out: PartitionSource[] = [];
  for (const topic of topics) {
    const n = ctx.logs.topic(topic)?.partitions ?? 0;
    for (let partition = 0; partition < n; partition++) {
      const log = ctx.logs.log(topic, partition);
      if (log) out.push({ topic, partition, logStartOffset: log.logStartOffset, logEndOffset: log.logEndOffset });
    }
  }
  return out;
}

function failed(topic: string, error: ShareAcquirePartitionResult['error']): ShareAcquirePartitionResult {
  return { topic, partition: -1, error, acquired: [], lockDeadline: 0, records: EMPTY };
}

function pickSettings(s: ShareGroupSettings): Partial<ShareGroupConfig> {
  const out: Record<string, unknown> = {};
  for (const k of SETTING_KEYS) if (s[k] !== undefined) out[k] = s[k];
  return out as Partial<ShareGroupConfig>;
}
