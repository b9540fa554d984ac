/**
 * Copies dead-lettered records to their dead-letter topics (docs/queue.md, "Dead-letter
 * records"). The coordinator only says which (topic, partition, offset) died and why; this
 * reads the original record, adds the `sluice.dlq.*` headers and appends one batch per
 * dead-letter topic, creating the topic (1 partition) when it does not exist.
 *
 * Order matters for at-least-once: the caller appends dead letters *before* persisting
 * the share state. A crash in between then re-delivers (and may dead-letter twice) rather
 * than lose a record that the state already calls archived.
 */
import { decodeBatches, encodeBatch, type RecordInput } from '../record/index.js';
import { InvalidTopicError } from '../errors.js';
import { deadLetterRecord } from '../queue/dead-letter.js';
import { deadLetterTopicProblem } from '../queue/share-config.js';
import type { DeadLetter } from '../queue/types.js';
import type { BrokerContext } from './context.js';

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
  const log = ctx.logs.log(dl.topic, dl.partition);
  if (!log || dl.offset < log.logStartOffset || dl.offset >= log.logEndOffset) return undefined;
  const { bytes } = await log.read(dl.offset, 1);
  for (const b of decodeBatches(bytes)) {
    for (const r of b.records) if (r.offset === dl.offset) return deadLetterRecord(r, dl);
  }
  return undefined;
}

/** Appends every dead letter (durably); returns how many were written. Records retention already deleted are logged and skipped. */
export async function writeDeadLetters(ctx: BrokerContext, dls: readonly DeadLetter[]): Promise<number> {
  if (dls.length === 0) return 0;
  const byTopic = new Map<string, { records: RecordInput[]; groups: Map<string, number> }>();
  for (const dl of dls) {
    const rec = await readOriginal(ctx, dl);
    if (!rec) {
      ctx.log.warn('dead letter source gone', { group: dl.group, topic: dl.topic, partition: dl.partition, offset: dl.offset });
      continue;
    }
    let e = byTopic.get(dl.deadLetterTopic);
    if (!e) byTopic.set(dl.deadLetterTopic, (e = { records: [], groups: new Map() }));
    e.records.push(rec);
    e.groups.set(dl.group, (e.groups.get(dl.group) ?? 0) + 1);
  }
  // The checks a produce gets (handle-produce.ts): group configs are checked when set, but
  // this is the one place where a client-chosen name makes the broker write, so it refuses
  // an internal or illegal topic itself, before any append.
  for (const [topic, e] of byTopic) {
    const problem = deadLetterTopicProblem(topic);
    if (problem) throw new InvalidTopicError(`dead-letter topic of share group(s) ${[...e.groups.keys()].join(', ')}: ${problem}`);
  }
  let written = 0;
  for (const [topic, e] of byTopic) {
    await ensureDlqTopic(ctx, topic);
    const log = ctx.logs.log(topic, 0);
    if (!log) throw new Error(`dead-letter topic ${topic} has no partition 0`);
    await log.append(encodeBatch(e.records), { durable: true });
    ctx.delayed.wakePartition(topic, 0);
    for (const [group, n] of e.groups) ctx.metrics.deadLettered(group, n);
    written += e.records.length;
  }
  return written;
}
