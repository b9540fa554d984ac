/**
 * Copies dead-lettered records to their dead-letter topics (docs/queue.md, "Dead-letter
 * records"). The coordinator only says which (topic, partition, offset) died and why; this
 * reads the original record, adds the `sluice.dlq.*` headers and appends one batch per
 * dead-letter topic, creating the topic (1 partition) when it does not exist (whatever
 * autoCreateTopics says: a share group's dead-letter topic is part of its config).
 *
 * Cluster mode (docs/cluster.md, "Coordinators"): the copy is an acks=all produce through the
 * dead-letter partition's leader (produce-as-leader.ts when that is this broker, else a
 * Produce over the broker link the replication layer keeps, ctx.cluster.links), so "written"
 * means on every in-sync replica; the original is read where the coordinator reads jobs
 * (job-source.ts: the local replica in sync, else the partition's leader), and a record it
 * cannot reach fails (and is retried) rather than counting as gone.
 *
 * A copy written again (a retry after a failure, or a copy a coordinator resumes after a
 * restart or a move: the state log holds the record for it) may already be in the topic: a
 * write that failed to answer, or a crash between the copy and the state write that archives
 * it. Such copies are first looked for in the last DUPLICATE_CHECK_RECORDS records of the
 * dead-letter topic (by their `sluice.dlq.*` headers) and not written again when found there.
 * Retries are rare, so the read costs nothing on the path of a first copy.
 *
 * It never throws: it reports, per dead-letter topic, what was durably appended and what
 * failed. The caller archives only the records whose copy is written (or whose source
 * retention already deleted) and retries the rest (share-service.ts), so a failed write
 * (the topic cannot be created, disk error, illegal name) never leaves a record archived without a copy.
 */
import { decodeBatches, encodeBatch, type RecordInput } from '../record/index.js';
import { readDeadLetterHeaders } from '../queue/dead-letter.js';
import { InvalidTopicError } from '../errors.js';
import { UnknownTopicError } from '../storage/errors.js';
import { deadLetterRecord } from '../queue/dead-letter.js';
import { deadLetterTopicProblem } from '../queue/share-config.js';
import type { DeadLetter } from '../queue/types.js';
import { Api } from '../protocol/api.js';
import { errorName } from '../protocol/errors.js';
import { SluiceError } from '../errors.js';
import type { BrokerContext } from './context.js';
import { produceAsLeader } from './produce-as-leader.js';
import { jobSource } from './job-source.js';

/**
 * How far back from its end a dead-letter topic is searched for the copy of a retried dead
 * letter. A copy written before a crash is at the tail unless more than this many records
 * were appended to the topic since (other coordinators sharing it, producers): it is then
 * written again (at-least-once).
 */
export const DUPLICATE_CHECK_RECORDS = 1000;

const creating = new Map<string, Promise<void>>();

async function ensureDlqTopic(ctx: BrokerContext, topic: string): Promise<void> {
  if (ctx.logs.topic(topic)) return;
  let p = creating.get(topic);
  if (!p) {
    p = (async () => {
      try {
        if (!ctx.logs.topic(topic)) {
          await ctx.logs.createTopic(topic, 1);
          ctx.log.info('topic created', { topic, partitions: 1, deadLetter: true });
        }
      } finally {
        creating.delete(topic);
      }
    })();
    creating.set(topic, p);
  }
  await p;
}

async function readOriginal(ctx: BrokerContext, dl: DeadLetter): Promise<RecordInput | undefined> {
  // Undefined: retention deleted it. Cluster mode with no replica in sync here: read at the
  // leader (job-source.ts); one it cannot reach throws, and the write is retried.
  const bytes = await jobSource(ctx).readAt(dl.topic, dl.partition, dl.offset);
  if (!bytes) return undefined;
  for (const b of decodeBatches(bytes)) {
    for (const r of b.records) if (r.offset === dl.offset) return deadLetterRecord(r, dl);
  }
  return undefined;
}

/** What writeDeadLetters did with each dead letter. */
export interface DeadLetterOutcome {
  /** Durably appended to their dead-letter topic: the records may be archived. */
  written: DeadLetter[];
  /** Retried, and found already in the topic's tail (not written again): the records may be archived. */
  found: DeadLetter[];
  /** Their source record is gone (retention deleted it): nothing to copy, they may be archived too. */
  gone: DeadLetter[];
  /** Not appended, per dead-letter topic, with the reason: the records must not be archived. */
  failed: { topic: string; dls: DeadLetter[]; error: unknown }[];
}

/**
 * Appends every dead letter durably, one batch per dead-letter topic; never throws (see the
 * file comment). Those `retried` says were tried before are first looked for in their topic's
 * tail.
 */
export async function writeDeadLetters(ctx: BrokerContext, dls: readonly DeadLetter[], retried: (dl: DeadLetter) => boolean = () => false): Promise<DeadLetterOutcome> {
  const out: DeadLetterOutcome = { written: [], found: [], gone: [], failed: [] };
  const byTopic = new Map<string, { records: RecordInput[]; dls: DeadLetter[]; readErrors: { dl: DeadLetter; error: unknown }[] }>();
  const toCheck = new Map<string, DeadLetter[]>();
  for (const dl of dls) {
    if (!retried(dl)) continue;
    const list = toCheck.get(dl.deadLetterTopic);
    if (list) list.push(dl);
    else toCheck.set(dl.deadLetterTopic, [dl]);
  }
  const skip = new Set<DeadLetter>();
  for (const [topic, list] of toCheck) {
    try {
      for (const dl of await copiesInTail(ctx, topic, list)) skip.add(dl);
    } catch (error) {
      // The topic's tail cannot be read now (no leader, a dropped link): neither can it be
      // written; these wait for the next retry.
      out.failed.push({ topic, dls: list, error });
      for (const dl of list) skip.add(dl);
    }
  }
  for (const dl of skip) if (!out.failed.some((f) => f.dls.includes(dl))) out.found.push(dl);
  for (const dl of dls) {
    if (skip.has(dl)) continue;
    let e = byTopic.get(dl.deadLetterTopic);
    if (!e) byTopic.set(dl.deadLetterTopic, (e = { records: [], dls: [], readErrors: [] }));
    let rec: RecordInput | undefined;
    try {
      rec = await readOriginal(ctx, dl);
    } catch (error) {
      e.readErrors.push({ dl, error });
      continue;
    }
    if (!rec) {
      ctx.log.warn('dead letter source gone', { group: dl.group, topic: dl.topic, partition: dl.partition, offset: dl.offset });
      out.gone.push(dl);
      continue;
    }
    e.records.push(rec);
    e.dls.push(dl);
  }
  for (const [topic, e] of byTopic) {
    for (const { dl, error } of e.readErrors) out.failed.push({ topic, dls: [dl], error });
    if (e.dls.length === 0) continue;
    try {
      await appendTo(ctx, topic, e.dls, e.records);
      out.written.push(...e.dls);
    } catch (error) {
      out.failed.push({ topic, dls: e.dls, error });
    }
  }
  return out;
}

/**
 * The dead letters of `dls` whose copy is among the last DUPLICATE_CHECK_RECORDS records of
 * `topic`-0: same group, source topic, partition, offset, cause and delivery count in the
 * `sluice.dlq.*` headers. None when the topic does not exist yet.
 */
async function copiesInTail(ctx: BrokerContext, topic: string, dls: readonly DeadLetter[]): Promise<DeadLetter[]> {
  if (!ctx.logs.topic(topic)) return [];
  const src = jobSource(ctx);
  const bounds = await src.source(topic, 0);
  if (!bounds || bounds.logEndOffset <= bounds.logStartOffset) return [];
  const want = new Map<string, DeadLetter>();
  for (const dl of dls) want.set(copyKey(dl.group, dl.topic, String(dl.partition), String(dl.offset), dl.cause, String(dl.deliveryCount)), dl);
  const found: DeadLetter[] = [];
  const end = bounds.logEndOffset;
  let from = Math.max(bounds.logStartOffset, end - DUPLICATE_CHECK_RECORDS);
  while (from < end && want.size > 0) {
    const bytes = await src.readBatches(topic, 0, from, end - 1);
    let next = from;
    for (const b of decodeBatches(bytes)) {
      for (const r of b.records) {
        if (r.offset < from || r.offset >= end) continue;
        const h = readDeadLetterHeaders(r.headers);
        if (!h) continue;
        const key = copyKey(h.group, h.topic, h.partition, h.offset, h.cause, h.deliveryCount);
        const dl = want.get(key);
        if (dl) {
          found.push(dl);
          want.delete(key);
        }
      }
      next = Math.max(next, b.header.baseOffset + b.header.lastOffsetDelta + 1);
    }
    if (next <= from) break; // nothing more readable (a log start moved meanwhile)
    from = next;
  }
  return found;
}

function copyKey(...fields: string[]): string {
  return fields.join('\0');
}

async function appendTo(ctx: BrokerContext, topic: string, dls: readonly DeadLetter[], records: RecordInput[]): Promise<void> {
  // The checks a produce gets (handle-produce.ts): group configs are checked when set, but
  // this is the one place where a client-chosen name makes the broker write, so it refuses
  // an internal or illegal topic itself, before any append.
  const problem = deadLetterTopicProblem(topic);
  if (problem) throw new InvalidTopicError(`dead-letter topic of share group(s) ${[...new Set(dls.map((d) => d.group))].join(', ')}: ${problem}`);
  await ensureDlqTopic(ctx, topic);
  if (ctx.replicas) {
    await produceReplicated(ctx, topic, encodeBatch(records));
  } else {
    const log = ctx.logs.log(topic, 0);
    if (!log) throw new UnknownTopicError(topic, 0);
    await log.append(encodeBatch(records), { durable: true });
    ctx.delayed.wakePartition(topic, 0);
  }
  const perGroup = new Map<string, number>();
  for (const dl of dls) perGroup.set(dl.group, (perGroup.get(dl.group) ?? 0) + 1);
  for (const [group, n] of perGroup) ctx.metrics.deadLettered(group, n);
}

/** Cluster mode: an acks=all produce of `batch` to `topic`-0 at its leader, here or over the broker link; throws on any error. */
async function produceReplicated(ctx: BrokerContext, topic: string, batch: Buffer): Promise<void> {
  const rm = ctx.replicas!;
  const c = ctx.cluster;
  const leader = c?.node.view.partition(topic, 0)?.state.leader ?? -1;
  let error: { code: number; message: string } | undefined;
  if (leader === rm.nodeId || !c) {
    error = (await produceAsLeader(ctx, rm, topic, 0, batch, -1, undefined, undefined)).error;
  } else {
    if (leader < 0) throw new SluiceError('NOT_LEADER_OR_FOLLOWER', `dead-letter partition ${topic}-0 has no leader`);
    const res = await (await c.links(leader)).request(Api.Produce, { acks: -1, partitions: [{ topic, partition: 0, records: batch }] });
    error = res.partitions[0]?.error;
  }
  if (error) throw new SluiceError(errorName(error.code), `dead letters to ${topic}-0 (leader ${leader}): ${error.message}`);
}
