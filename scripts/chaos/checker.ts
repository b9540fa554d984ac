/**
 * The checker of a chaos run: pure functions from the history (history.ts) and the replicas'
 * bytes, read from disk once every broker stopped, to anomalies. Each anomaly carries its
 * evidence (the values, offsets, op indexes and times involved) so that a report says what
 * broke without a re-run. What each check promises is in docs/cluster.md, "Fault-injection
 * harness".
 */
import { decodeBatches } from '../../src/record/decoder.js';
import { readDeadLetterHeaders } from '../../src/queue/dead-letter.js';
import type { Op } from './history.js';

export interface Anomaly {
  kind: string;
  evidence: Record<string, unknown>;
}

export interface LogRecord { offset: number; value: string }

/** One replica of a partition: the broker's node id and its segment files' bytes in offset order. */
export interface ReplicaBytes { nodeId: number; bytes: Buffer }

/** Produce ops: invoke value `{ topic, partition, value }`, ok value adds `offset`. */
export interface ProduceValue { topic: string; partition: number; value: string; offset?: number }

/** Records of one replica's bytes in log order. */
export function records(bytes: Buffer): LogRecord[] {
  const out: LogRecord[] = [];
  for (const b of decodeBatches(bytes)) {
    for (const r of b.records) out.push({ offset: r.offset, value: r.value?.toString() ?? '' });
  }
  return out;
}

/**
 * Every replica of a partition holds the same bytes. The evidence names the first offset at
 * which two replicas hold different records (or where one ends), which is what to look at.
 */
export function compareReplicas(topic: string, partition: number, replicas: readonly ReplicaBytes[]): Anomaly[] {
  const [first, ...rest] = replicas;
  if (!first) return [{ kind: 'no-replica-on-disk', evidence: { topic, partition } }];
  const out: Anomaly[] = [];
  for (const r of rest) {
    if (r.bytes.equals(first.bytes)) continue;
    const a = records(first.bytes);
    const b = records(r.bytes);
    let i = 0;
    while (i < a.length && i < b.length && a[i]!.offset === b[i]!.offset && a[i]!.value === b[i]!.value) i++;
    out.push({
      kind: 'replicas-differ',
      evidence: {
        topic, partition, nodes: [first.nodeId, r.nodeId], bytes: [first.bytes.length, r.bytes.length],
        records: [a.length, b.length], firstDifference: { index: i, [`node${first.nodeId}`]: a[i] ?? null, [`node${r.nodeId}`]: b[i] ?? null },
      },
    });
  }
  return out;
}

/** Producer values are `p<producer>-<seq>`: the producer and its send order. */
function parseProduced(value: string): { producer: string; seq: number } | undefined {
  const m = /^(p\d+)-(\d+)$/.exec(value);
  return m ? { producer: m[1]!, seq: Number(m[2]) } : undefined;
}

/**
 * The produce workload against the final log of each partition (`logs`, one agreed replica):
 *  - every acknowledged (ok) value is in its partition at exactly its acknowledged offset (`lost`
 *    when it is nowhere, `moved` when it is elsewhere);
 *  - no value is stored twice (`duplicate`: idempotence should make retries invisible), whether
 *    its send was acknowledged or ended unknown (info);
 *  - nothing is stored that no producer sent (`phantom`);
 *  - offsets increase along the log (`offsets-out-of-order`);
 *  - each producer's values of one partition are stored in the order it sent them (`reordered`:
 *    it sends one at a time, so send order is acknowledgement order).
 */
export function checkProduce(ops: readonly Op[], topic: string, logs: ReadonlyMap<number, readonly LogRecord[]>): Anomaly[] {
  const out: Anomaly[] = [];
  const attempted = new Set<string>();
  const acked: { op: Op; v: ProduceValue }[] = [];
  for (const o of ops) {
    if (o.f !== 'produce') continue;
    const v = o.value as ProduceValue;
    if (v.topic !== topic) continue;
    if (o.type === 'invoke') attempted.add(v.value);
    if (o.type === 'ok') acked.push({ op: o, v });
  }
  const where = new Map<string, { partition: number; offset: number }[]>();
  for (const [partition, log] of logs) {
    for (let i = 0; i < log.length; i++) {
      const r = log[i]!;
      if (i > 0 && r.offset <= log[i - 1]!.offset) {
        out.push({ kind: 'offsets-out-of-order', evidence: { topic, partition, offset: r.offset, previous: log[i - 1]!.offset } });
      }
      let at = where.get(r.value);
      if (!at) where.set(r.value, at = []);
      at.push({ partition, offset: r.offset });
      if (!attempted.has(r.value)) out.push({ kind: 'phantom', evidence: { topic, partition, offset: r.offset, value: r.value } });
    }
  }
  for (const [value, at] of where) {
    if (at.length > 1) out.push({ kind: 'duplicate', evidence: { topic, value, storedAt: at } });
  }
  for (const { op, v } of acked) {
    const at = where.get(v.value) ?? [];
    if (at.some((x) => x.partition === v.partition && x.offset === v.offset)) continue;
    out.push({
      kind: at.length === 0 ? 'lost' : 'moved',
      evidence: { topic, value: v.value, partition: v.partition, ackedOffset: v.offset, ackedAtMs: op.time, opIndex: op.index, storedAt: at },
    });
  }
  for (const [partition, log] of logs) {
    const last = new Map<string, { seq: number; offset: number }>();
    for (const r of log) {
      const p = parseProduced(r.value);
      if (!p) continue;
      const prev = last.get(p.producer);
      if (prev && p.seq < prev.seq) {
        out.push({ kind: 'reordered', evidence: { topic, partition, producer: p.producer, earlierSend: { seq: p.seq, offset: r.offset }, laterSend: prev } });
      }
      if (!prev || p.seq > prev.seq) last.set(p.producer, { seq: p.seq, offset: r.offset });
    }
  }
  return out;
}

/** Consume ops (`consume`, ok): `{ topic, partition, offsets, values }` of one delivered batch. */
export interface ConsumeValue { topic: string; partition: number; offsets: number[]; values: string[] }

/**
 * Every record a consumer was given is in the final log at that offset: consumers are served
 * only below the high watermark, so nothing they read may be taken back by a failover
 * (`read-then-lost`).
 */
export function checkConsumed(ops: readonly Op[], topic: string, logs: ReadonlyMap<number, readonly LogRecord[]>): Anomaly[] {
  const byOffset = new Map<number, Map<number, string>>();
  for (const [p, log] of logs) byOffset.set(p, new Map(log.map((r) => [r.offset, r.value])));
  const out: Anomaly[] = [];
  for (const o of ops) {
    if (o.f !== 'consume' || o.type !== 'ok') continue;
    const v = o.value as ConsumeValue;
    if (v.topic !== topic) continue;
    v.offsets.forEach((offset, i) => {
      const stored = byOffset.get(v.partition)?.get(offset);
      if (stored !== v.values[i]) {
        out.push({ kind: 'read-then-lost', evidence: { topic, partition: v.partition, offset, read: v.values[i], inFinalLog: stored ?? null, process: o.process, atMs: o.time } });
      }
    });
  }
  return out;
}

/**
 * Committed offsets never go backwards, per group and partition. `commit` ok values are lower
 * bounds (the position read just before commit(); the position may only have moved on), and
 * `read-offsets` ok values are what OffsetFetch answered. A read invoked after a commit or an
 * earlier read completed must answer at least that (`commit-went-back`). -1 (nothing
 * committed) after a commit counts as going back: the group's offsets were lost.
 */
export function checkCommits(ops: readonly Op[]): Anomaly[] {
  const invokedAt = new Map<number, number>();
  for (const o of ops) if (o.type === 'invoke') invokedAt.set(o.index, o.time);
  const out: Anomaly[] = [];
  // The highest offset known durable per group/partition, with the op that showed it, as of a completion time.
  const floor = new Map<string, { offset: number; op: Op }>();
  const done = ops.filter((o) => o.type === 'ok' && (o.f === 'commit' || o.f === 'read-offsets'));
  // Walk completions in time order; a read is judged against completions before its invoke.
  const reads = done.filter((o) => o.f === 'read-offsets').sort((a, b) => invokedAt.get(a.invokeIndex!)! - invokedAt.get(b.invokeIndex!)!);
  const byCompletion = [...done].sort((a, b) => a.time - b.time);
  let next = 0;
  for (const r of reads) {
    const rInvoked = invokedAt.get(r.invokeIndex!)!;
    while (next < byCompletion.length && byCompletion[next]!.time < rInvoked) {
      const c = byCompletion[next++]!;
      const cv = c.value as { group: string; offsets: Record<string, number> };
      for (const [p, off] of Object.entries(cv.offsets)) {
        const key = `${cv.group}/${p}`;
        if (off >= 0 && off > (floor.get(key)?.offset ?? -1)) floor.set(key, { offset: off, op: c });
      }
    }
    const rv = r.value as { group: string; offsets: Record<string, number> };
    for (const [key, f] of floor) {
      const [group, p] = splitKey(key);
      if (group !== rv.group) continue;
      const read = rv.offsets[p] ?? -1;
      if (read < f.offset) {
        out.push({
          kind: 'commit-went-back',
          evidence: { group, partition: p, read, readInvokedAtMs: rInvoked, readOp: r.index, earlier: f.offset, earlierBy: f.op.f, earlierOp: f.op.index, earlierAtMs: f.op.time },
        });
      }
    }
  }
  return out;
}

function splitKey(key: string): [string, string] {
  const i = key.lastIndexOf('/');
  return [key.slice(0, i), key.slice(i + 1)];
}

/** A record of the dead-letter topic: the job (its value) and the `sluice.dlq.*` headers that matter here. */
export interface DeadLetterRecord { offset: number; value: string; cause: string; deliveryCount: number; partition: number; sourceOffset: number }

/** The dead letters in one replica's bytes, in log order (records without the DLQ headers are skipped). */
export function deadLetters(bytes: Buffer): DeadLetterRecord[] {
  const out: DeadLetterRecord[] = [];
  for (const b of decodeBatches(bytes)) {
    for (const r of b.records) {
      const h = readDeadLetterHeaders(r.headers);
      if (!h) continue;
      out.push({ offset: r.offset, value: r.value?.toString() ?? '', cause: h.cause, deliveryCount: Number(h.deliveryCount), partition: Number(h.partition), sourceOffset: Number(h.offset) });
    }
  }
  return out;
}

/**
 * Queue mode (queue-workload.ts settles each job by its plan: ack, release then ack, or
 * reject). `enqueue` ok values are `{ value }`, `deliver` events `{ value, deliveryCount,
 * partition, offset }`, `ack` / `reject` / `release` ops `{ value, deliveryCount }`.
 *  - every enqueued (ok) job is settled by the end: acked or rejected ok, or in the
 *    dead-letter topic (`job-never-acked`; an `info` ack or reject, whose outcome is unknown,
 *    counts when the last `queue-state` op saw the group holding nothing);
 *  - no job is handed to a worker after an ack or a reject of it succeeded
 *    (`acked-job-delivered-again`, `rejected-job-delivered-again`: the share state log keeps a
 *    rejected job held for its dead-letter copy, so a coordinator that restarts or moves
 *    before the copy resumes it and does not hand the job out; docs/queue.md);
 *  - no job is settled successfully twice: two workers told they owned it (`job-settled-twice`);
 *  - a job's delivery count rises with each delivery: a later delivery with a lower count
 *    (`delivery-count-went-back`) or the same one (`delivery-count-repeated`: a delivery the
 *    group forgot, so maxDeliveries would not bound it) is an anomaly;
 *  - when `dlq` (the dead-letter topic's records) is given: every job rejected ok is in it
 *    (`rejected-job-not-dead-lettered`) and no job acked ok is (`acked-job-dead-lettered`).
 *    A job may be there twice (a crash between the copy and its archive; docs/queue.md).
 */
export function checkQueue(ops: readonly Op[], dlq?: readonly DeadLetterRecord[]): Anomaly[] {
  const out: Anomaly[] = [];
  const firstSettle = new Map<string, Op>();
  for (const o of ops) {
    if ((o.f === 'ack' || o.f === 'reject') && o.type === 'ok') {
      const v = (o.value as { value: string }).value;
      const first = firstSettle.get(v);
      if (!first) firstSettle.set(v, o);
      else out.push({ kind: 'job-settled-twice', evidence: { job: v, first: { op: first.index, f: first.f, by: first.process, atMs: first.time }, second: { op: o.index, f: o.f, by: o.process, atMs: o.time } } });
    }
  }
  const maybeSettled = new Set(ops.filter((o) => (o.f === 'ack' || o.f === 'reject') && o.type === 'info').map((o) => (o.value as { value: string }).value));
  const final = ops.filter((o) => o.f === 'queue-state' && o.type === 'ok').at(-1)?.value as { available: number; delayed: number; inFlight: number } | undefined;
  const drained = final !== undefined && final.available + final.delayed + final.inFlight === 0;
  const deliveries = new Map<string, Op[]>();
  for (const o of ops) {
    if (o.f !== 'deliver' || o.type !== 'ok') continue;
    const v = o.value as { value: string; deliveryCount: number; partition: number; offset: number };
    let list = deliveries.get(v.value);
    if (!list) deliveries.set(v.value, list = []);
    const highest = list.reduce<Op | undefined>((m, d) => (!m || count(d) > count(m) ? d : m), undefined);
    if (highest && v.deliveryCount <= count(highest)) {
      out.push({
        kind: v.deliveryCount < count(highest) ? 'delivery-count-went-back' : 'delivery-count-repeated',
        evidence: { job: v.value, partition: v.partition, offset: v.offset, deliveryCount: v.deliveryCount, deliveredTo: o.process, deliveredAtMs: o.time, earlier: { deliveryCount: count(highest), deliveredTo: highest.process, deliveredAtMs: highest.time, op: highest.index } },
      });
    }
    list.push(o);
    const settle = firstSettle.get(v.value);
    if (settle && o.time > settle.time) {
      out.push({ kind: settle.f === 'ack' ? 'acked-job-delivered-again' : 'rejected-job-delivered-again', evidence: { job: v.value, partition: v.partition, offset: v.offset, settledAtMs: settle.time, settleOp: settle.index, settledBy: settle.process, deliveredAtMs: o.time, deliveredTo: o.process, deliveryCount: v.deliveryCount } });
    }
  }
  const deadLettered = new Map<string, DeadLetterRecord[]>();
  for (const r of dlq ?? []) {
    let list = deadLettered.get(r.value);
    if (!list) deadLettered.set(r.value, list = []);
    list.push(r);
  }
  if (dlq) {
    for (const [v, settle] of firstSettle) {
      const there = deadLettered.get(v);
      if (settle.f === 'reject' && !there) out.push({ kind: 'rejected-job-not-dead-lettered', evidence: { job: v, rejectedAtMs: settle.time, rejectOp: settle.index, rejectedBy: settle.process } });
      if (settle.f === 'ack' && there) out.push({ kind: 'acked-job-dead-lettered', evidence: { job: v, ackedAtMs: settle.time, ackOp: settle.index, ackedBy: settle.process, deadLetters: there } });
    }
  }
  for (const o of ops) {
    if (o.f !== 'enqueue' || o.type !== 'ok') continue;
    const v = (o.value as { value: string }).value;
    if (firstSettle.has(v) || deadLettered.has(v)) continue;
    // A settle whose answer was lost may have been applied: it counts only if the group ended
    // holding nothing (no job available, delayed or in flight), which it could not if this
    // job had not been acked (or dead-lettered) there.
    if (maybeSettled.has(v) && drained) continue;
    const d = deliveries.get(v) ?? [];
    out.push({ kind: 'job-never-acked', evidence: { job: v, enqueuedAtMs: o.time, deliveries: d.length, lastDeliveredAtMs: d.at(-1)?.time ?? null } });
  }
  return out;
}

function count(deliver: Op): number {
  return (deliver.value as { deliveryCount: number }).deliveryCount;
}

/** Operations per kind (`f`) by completion type. */
export function countOps(ops: readonly Op[]): Record<string, { ok: number; fail: number; info: number }> {
  const out: Record<string, { ok: number; fail: number; info: number }> = {};
  for (const o of ops) {
    if (o.type === 'invoke') continue;
    const c = out[o.f] ??= { ok: 0, fail: 0, info: 0 };
    c[o.type]++;
  }
  return out;
}

/**
 * Longest unavailability per partition: the longest gap between acknowledged produces of the
 * partition (ok completions), counting from `from` and up to `to`, the window in which the
 * producers were trying without pause.
 */
export function longestUnavailability(ops: readonly Op[], topic: string, partitions: number, from: number, to: number): Record<string, { ms: number; fromMs: number; toMs: number }> {
  const times: number[][] = Array.from({ length: partitions }, () => []);
  for (const o of ops) {
    if (o.f !== 'produce' || o.type !== 'ok') continue;
    const v = o.value as ProduceValue;
    if (v.topic === topic && o.time >= from && o.time <= to) times[v.partition]?.push(o.time);
  }
  const out: Record<string, { ms: number; fromMs: number; toMs: number }> = {};
  times.forEach((ts, p) => {
    let best = { ms: 0, fromMs: from, toMs: from };
    let prev = from;
    for (const t of [...ts.sort((a, b) => a - b), to]) {
      if (t - prev > best.ms) best = { ms: Math.round(t - prev), fromMs: Math.round(prev), toMs: Math.round(t) };
      prev = t;
    }
    out[String(p)] = best;
  });
  return out;
}
