/**
 * The acks of the workers of one share group that share a connection (QueueConsumer's
 * `shareConnectionWith`), coalesced: every ack made in the same tick, by any of them, goes
 * out as one ShareAck (one entry per worker and partition; the first worker's entries in
 * `entries`, the others' in `workers`). A worker alone on its connection is the case of one
 * worker. At most one ShareAck is out at a time: acks made while one is out wait for its
 * answer and then go out together (group commit, as the broker's fsync does), so under load
 * the acks of every worker on the connection share a request, and an idle connection sends
 * an ack at the next tick.
 *
 * Why: the broker's cost is per request far more than per job (docs/queue-performance.md,
 * step 5), and the acks of one request share one fsync. Waiting costs a worker no slot: a
 * job's slot is free once it is settled, not once its ack is answered.
 *
 * Failures stay with their owner: each entry is all or nothing at the broker and answered on
 * its own, so a worker whose entry is refused (it left, its lock expired) sees that error and
 * no other worker does. When a merged entry (several offsets) fails, its offsets are sent
 * again one per entry and only the jobs at fault are rejected. A failed request rejects
 * every ack it carried. A broker that predates `workers` ignores the field and answers only
 * the first worker's entries: the others are then sent each in their own request (nothing
 * of theirs was applied), and this batcher stops coalescing.
 */
import type { ShareAckEntry, ShareAckRequest, ShareAckResponse, ShareAckResult } from '../protocol/api.js';
import { fromWireError } from '../protocol/errors.js';
import { MAX_ACK_OFFSETS } from '../protocol/limits.js';
import { tpKey } from '../protocol/topic-partition.js';
import { SluiceError } from '../errors.js';

/** What an ack names: a record of the group. */
export interface AckTarget {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
}

interface PendingAck {
  target: AckTarget;
  resolve: () => void;
  reject: (e: Error) => void;
}

/** The acks of one entry: one worker, one partition. */
type Entry = PendingAck[];
/** Per worker, its entries. */
type Work = Map<string, Entry[]>;
type ShareAckBody = Omit<ShareAckRequest, 'id' | 'api' | 'version'>;

export class ShareAckBatcher {
  /** workerId -> its acks of this tick, in order. */
  private pending = new Map<string, PendingAck[]>();
  private scheduled: Promise<void> | null = null;
  /** The latest flush (the next one starts after it). */
  private last: Promise<void> = Promise.resolve();
  /** The flushes still running (their requests and retries). */
  private readonly flushing = new Set<Promise<void>>();
  /** False once the broker answered a coalesced request without `workers` (it predates the field). */
  private coalesce = true;

  /** `send` sends one ShareAck of `groupId` (through the group's coordinator route). */
  constructor(private readonly groupId: string, private readonly send: (body: ShareAckBody) => Promise<ShareAckResponse>) {}

  /** Acks `target` for `workerId`; resolves once the broker answered the ack (durable), rejects with its error. */
  ack(workerId: string, target: AckTarget): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const l = this.pending.get(workerId);
      if (l) l.push({ target, resolve, reject });
      else this.pending.set(workerId, [{ target, resolve, reject }]);
      if (this.scheduled) return;
      const before = this.last;
      const flush = (this.scheduled = new Promise<void>((r) => setImmediate(r)).then(() => before.catch(() => undefined)).then(() => this.flush()));
      this.last = flush;
      this.flushing.add(flush);
      void flush.finally(() => this.flushing.delete(flush));
    });
  }

  /** Resolves once every ack made before the call is answered. */
  async idle(): Promise<void> {
    while (this.flushing.size > 0) await Promise.allSettled([...this.flushing]);
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    this.scheduled = null;
    const work: Work = new Map();
    for (const [workerId, acks] of batch) work.set(workerId, byPartition(acks));
    const retry: Work = new Map();
    await this.sendAll(work, (workerId, entry, error) => {
      if (!error) for (const a of entry) a.resolve();
      else if (entry.length === 1) entry[0].reject(error);
      else {
        // One merged entry failed as a whole: find the culprits by acking one offset per entry.
        const l = retry.get(workerId) ?? [];
        retry.set(workerId, l);
        for (const a of entry) l.push([a]);
      }
    });
    if (retry.size === 0) return;
    await this.sendAll(retry, (_, entry, error) => {
      if (error) entry[0].reject(error);
      else entry[0].resolve();
    });
  }

  /** Sends `work` in as few requests as the broker takes; calls `each` with every entry and its error (undefined: acked). */
  private async sendAll(work: Work, each: (workerId: string, entry: Entry, error?: Error) => void): Promise<void> {
    const workers = [...work];
    const sends: Promise<void>[] = [];
    for (let i = 0; i < workers.length;) {
      // Whole workers per request, within the broker's limit of offsets per ShareAck.
      let n = 0;
      let offsets = 0;
      while (i + n < workers.length && (n === 0 || (this.coalesce && offsets + count(workers[i + n][1]) <= MAX_ACK_OFFSETS))) offsets += count(workers[i + n++][1]);
      sends.push(this.sendOne(workers.slice(i, i + n), each));
      i += n;
    }
    await Promise.all(sends);
  }

  private async sendOne(workers: [string, Entry[]][], each: (workerId: string, entry: Entry, error?: Error) => void): Promise<void> {
    const [[first, firstEntries], ...rest] = workers;
    let res: ShareAckResponse;
    try {
      res = await this.send({
        groupId: this.groupId, workerId: first, entries: firstEntries.map(entryOf),
        ...(rest.length > 0 && { workers: rest.map(([workerId, entries]) => ({ workerId, entries: entries.map(entryOf) })) }),
      });
    } catch (err) {
      for (const [, entries] of workers) for (const e of entries) for (const a of e) a.reject(err as Error);
      return;
    }
    answer(first, firstEntries, res.results, each);
    if (rest.length === 0) return;
    if (res.workers) {
      rest.forEach(([workerId, entries], i) => answer(workerId, entries, res.workers![i]?.results ?? [], each));
      return;
    }
    // A broker before `workers`: it applied only the first worker's entries.
    this.coalesce = false;
    await this.sendAll(new Map(rest), each);
  }
}

/** A worker's acks grouped into one entry per partition, in first-seen order. */
function byPartition(acks: PendingAck[]): Entry[] {
  const byTp = new Map<string, Entry>();
  for (const a of acks) {
    const k = tpKey(a.target.topic, a.target.partition);
    const l = byTp.get(k);
    if (l) l.push(a);
    else byTp.set(k, [a]);
  }
  return [...byTp.values()];
}

function entryOf(e: Entry): ShareAckEntry {
  return { topic: e[0].target.topic, partition: e[0].target.partition, offsets: e.map((a) => a.target.offset), type: 'ack' };
}

function count(entries: Entry[]): number {
  let n = 0;
  for (const e of entries) n += e.length;
  return n;
}

/** Hands each entry its result; an entry the broker did not answer is not called acked. */
function answer(workerId: string, entries: Entry[], results: ShareAckResult[], each: (workerId: string, entry: Entry, error?: Error) => void): void {
  entries.forEach((e, i) => {
    const r = results[i];
    if (r === undefined) each(workerId, e, new SluiceError('UNKNOWN_SERVER_ERROR', `ShareAck: the broker answered ${results.length} of ${entries.length} entries of worker ${workerId}`));
    else each(workerId, e, r.error && fromWireError(r.error));
  });
}
