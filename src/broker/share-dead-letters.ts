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
 * It never throws: it reports, per dead-letter topic, what was durably appended and what
 * failed. The caller archives only the records whose copy is written (or whose source
 * retention already deleted) and retries the rest (share-service.ts), so a failed write
 * (the topic cannot be created, disk error, illegal name) never leaves a record archived without a copy.
 */
import { decodeBatches, encodeBatch, type RecordInput } from '../record/index.js';
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
  /** Their source record is gone (retention deleted it): nothing to copy, they may be archived too. */
  gone: DeadLetter[];
  /** Not appended, per dead-letter topic, with the reason: the records must not be archived. */
  failed: { topic: string; dls: DeadLetter[]; error: unknown }[];
}

/** Appends every dead letter durably, one batch per dead-letter topic; never throws (see the file comment). */
export async function writeDeadLetters(ctx: BrokerContext, dls: readonly DeadLetter[]): Promise<DeadLetterOutcome> {
  const out: DeadLetterOutcome = { written: [], gone: [], failed: [] };
  const byTopic = new Map<string, { records: RecordInput[]; dls: DeadLetter[]; readErrors: { dl: DeadLetter; error: unknown }[] }>();
  for (const dl of dls) {
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
