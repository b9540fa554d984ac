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
 *
 * Give-backs (releases of kind unstarted, QueueConsumer's close and drain) travel the same way,
 * each under the holder token the job was acquired under (ShareAck `holder`, docs/queue.md):
 * the broker checks a token per worker entry, so the acks and give-backs of one worker are
 * sent as one worker entry per token (acks name none), and a stale token fails only the
 * entries sent under it.
 *
 * Carried by an acquire (KIP-932 carries acknowledgements in ShareFetch): a worker about to
 * send a ShareAcquire takes every settle pending on the connection (carry()) and sends them
 * in its `acks`, so a busy worker sends one request per cycle instead of an acquire and a
 * ShareAck (docs/queue-performance.md, step 12). The broker applies them before the
 * acquisition, answers the acquisition once its state write is in the log (not after the
 * acks' fsync: that would add an fsync to every cycle), and tells the acks' results (by
 * `seq`) once they are durable: in `acked` of the worker's next acquire answer, or in a
 * `share-acks` push when no answer takes them soon (broker/share-acks-owed.ts); each settle
 * is answered from that exactly as from a ShareAck's answer. The worker's acquire loop gets its turn before a
 * flush (onTurn), so acks made in the tick before an acquire ride on it; when no acquire is
 * due (a worker that stops asking, a drain, close) the flush sends them as a ShareAck as
 * before. Carried settles whose push has not come fail with the connection's error when it
 * drops or closes (retriable: they may have been applied), with REQUEST_TIMED_OUT when it
 * does not come within the request timeout after the acquire's answer. An acquire answered
 * with an error had them not taken (the broker pushes first once it took them): they go out
 * as a ShareAck. So does an acquire answered without `acksTaken` (a broker before the
 * field ignored them), and this batcher then stops carrying.
 */
import type { CarriedAcksResult, ShareAckEntry, ShareAckRequest, ShareAckResponse, ShareAckResult } from '../protocol/api.js';
import type { ShareAcquireRequest } from '../protocol/api-table.js';
import { BrokerError, fromWireError } from '../protocol/errors.js';
import { MAX_ACK_OFFSETS } from '../protocol/limits.js';
import { tpKey } from '../protocol/topic-partition.js';
import { SluiceError } from '../errors.js';

/** What an ack names: a record of the group. */
export interface AckTarget {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
}

/** Called once a settle is answered: with no error when the broker applied it (an ack: durably), else with the error. */
export type AckDone<T extends AckTarget = AckTarget> = (target: T, error?: Error) => void;

interface PendingAck {
  target: AckTarget;
  /** A caller awaits the answer (a promise was handed out): carried, it asks for a prompt push. */
  waited: boolean;
  /** Set for a give-back (release kind unstarted): its reason. */
  giveBack: { reason?: string } | undefined;
  done: AckDone;
}

/** The acks of one entry: one worker, one holder token, one partition, one kind of settle. */
type Entry = PendingAck[];
/** The entries one worker sends under one holder token (none: acks). */
interface Unit { workerId: string; holder: string | undefined; entries: Entry[] }
/** Per worker and holder token (unitKey), its entries. */
type Work = Map<string, Unit>;
type ShareAckBody = Omit<ShareAckRequest, 'id' | 'api' | 'version'>;

/** Settles an acquire carries (carry()): pass `body` as the ShareAcquire's `acks`, then tell the batcher how the acquire went. */
export interface CarriedAcks {
  readonly body: NonNullable<ShareAcquireRequest['acks']>;
}

interface Carried extends CarriedAcks {
  readonly units: Unit[];
  /** No caller awaits these (run()'s own acks): their outcome may wait for the worker's next request. */
  later: boolean;
  /** The connection it was last sent on (a drop of that one fails it). */
  conn: unknown;
  timer: NodeJS.Timeout | undefined;
  /** Answered (from the push, or failed): later news of it is ignored. */
  over: boolean;
  /** Ends its promise in `flushing` (idle() waits for it). */
  end: () => void;
}

export class ShareAckBatcher {
  /** unitKey(workerId, holder) -> that worker's settles of this tick under that token, in order. */
  private pending = new Map<string, { workerId: string; holder: string | undefined; acks: PendingAck[] }>();
  private scheduled: Promise<void> | null = null;
  /** The latest flush (the next one starts after it). */
  private last: Promise<void> = Promise.resolve();
  /** The flushes still running (their requests and retries). */
  private readonly flushing = new Set<Promise<void>>();
  /** False once the broker answered a coalesced request without `workers` (it predates the field). */
  private coalesce = true;
  /** False once a broker answered an acquire carrying acks without `acksTaken` (it predates `acks`). */
  private carrying = true;
  /** Settles carried by acquires whose `share-acks` push has not come, by `seq`. */
  private readonly carried = new Map<number, Carried>();
  private nextSeq = 0;
  /** Run at each flush's turn, before it sends: the workers' acquire loops (see carry()). */
  private readonly turnHooks = new Set<() => void>();

  /**
   * `send` sends one ShareAck of `groupId` (through the group's coordinator route);
   * `pushTimeoutMs`: how long a carried settle waits for its push after the acquire's answer.
   */
  constructor(private readonly groupId: string, private readonly send: (body: ShareAckBody) => Promise<ShareAckResponse>, private readonly pushTimeoutMs = 30_000) {}

  /**
   * Calls `fn` at the start of every flush's turn (the tick after settles were made), before
   * the flush sends anything: an acquire `fn` sends then carries the settles (carry()).
   * Returns an unsubscribe.
   */
  onTurn(fn: () => void): () => void {
    this.turnHooks.add(fn);
    return () => { this.turnHooks.delete(fn); };
  }

  /**
   * Takes the settles pending now (every worker's on this connection, whole workers up to the
   * offsets a request may name) for an acquire to carry; undefined when there are none or
   * the broker does not take them. Call it right before sending, then sentOn/answered/failed.
   */
  carry(): CarriedAcks | undefined {
    if (!this.carrying || this.pending.size === 0) return undefined;
    const units: Unit[] = [];
    let offsets = 0;
    let later = true;
    for (const [k, { workerId, holder, acks }] of this.pending) {
      if (offsets + acks.length > MAX_ACK_OFFSETS) continue;
      offsets += acks.length;
      for (const a of acks) if (a.waited) later = false;
      units.push({ workerId, holder, entries: byPartition(acks) });
      this.pending.delete(k);
    }
    if (units.length === 0) return undefined;
    const seq = this.nextSeq = (this.nextSeq + 1) % 0x7fffffff;
    let end!: () => void;
    const done = new Promise<void>((r) => { end = r; });
    const c: Carried = {
      body: { seq, workers: units.map((u) => ({ workerId: u.workerId, ...holderOf(u), entries: u.entries.map(entryOf) })), ...(later && { later }) },
      units, later, conn: undefined, timer: undefined, over: false, end,
    };
    this.carried.set(seq, c);
    this.flushing.add(done);
    void done.then(() => this.flushing.delete(done));
    return c;
  }

  /** The acquire carrying `c` is being sent on `conn` (again, after a coordinator move). */
  sentOn(c: CarriedAcks, conn: unknown): void {
    (c as Carried).conn = conn;
  }

  /** The acquire carrying `c` was answered; `taken`: its `acksTaken`. */
  answered(c: CarriedAcks, taken: boolean): void {
    const k = c as Carried;
    if (k.over) return;
    if (!taken) {
      // A broker before `acks` ignored them: nothing was applied.
      this.carrying = false;
      this.requeue(k);
      return;
    }
    // Told with the worker's next request (run()'s acks), or pushed within a second: no
    // deadline but the connection's until a collect (idle()) finds them missing.
    if (k.later) return;
    this.armTimeout(k);
  }

  private armTimeout(k: Carried): void {
    k.timer = setTimeout(() => this.fail(k, new SluiceError('REQUEST_TIMED_OUT', `the broker took ${count(k.units.flatMap((u) => u.entries))} settles with an acquire and did not confirm them within ${this.pushTimeoutMs} ms; they may have been applied`)), this.pushTimeoutMs);
  }

  /**
   * The acquire carrying `c` failed with `err`. An answered error (BrokerError) means they
   * were not taken (the broker pushes their results before an error answer once it took
   * them): they go out as a ShareAck. Anything else (a drop, a timeout) leaves it unknown:
   * they fail with `err`, as a ShareAck's would.
   */
  failed(c: CarriedAcks, err: Error): void {
    const k = c as Carried;
    if (k.over) return;
    if (err instanceof BrokerError) this.requeue(k);
    else this.fail(k, err);
  }

  /** A push on the coordinator's connection: outcomes of carried settles (`share-acks`). */
  pushed(msg: Record<string, unknown>): void {
    if (msg.push === 'share-acks' && Array.isArray(msg.acked)) this.told(msg.acked as CarriedAcksResult[]);
  }

  /** Outcomes of carried settles, from an acquire answer's `acked` or a push: each answers its settles. */
  told(acked: readonly CarriedAcksResult[] | undefined): void {
    if (acked === undefined) return;
    for (const r of acked) {
      if (r.groupId !== this.groupId || typeof r.seq !== 'number' || !Array.isArray(r.workers)) continue;
      const c = this.carried.get(r.seq);
      if (!c || c.over) continue;
      this.finish(c);
      const retry: Work = new Map();
      const each = this.collect(retry);
      c.units.forEach((u, i) => answer(u, r.workers[i]?.results ?? [], each));
      void this.retry(retry).finally(c.end);
    }
  }

  /** `conn` dropped or closed: carried settles sent on it whose push has not come fail with `err`. */
  lost(conn: unknown, err: Error): void {
    for (const c of [...this.carried.values()]) if (c.conn === conn) this.fail(c, err);
  }

  private finish(c: Carried): void {
    c.over = true;
    clearTimeout(c.timer);
    this.carried.delete(c.body.seq);
  }

  private fail(c: Carried, err: Error): void {
    if (c.over) return;
    this.finish(c);
    for (const u of c.units) for (const e of u.entries) for (const a of e) a.done(a.target, err);
    c.end();
  }

  /** Carried settles the broker did not take go out as a ShareAck (or with the next acquire). */
  private requeue(c: Carried): void {
    this.finish(c);
    for (const u of c.units) for (const e of u.entries) for (const a of e) this.add(u.workerId, u.holder, a.target, a.giveBack, a.done, a.waited);
    c.end();
  }

  /** Acks `target` for `workerId`; resolves once the broker answered the ack (durable), rejects with its error. */
  ack(workerId: string, target: AckTarget): Promise<void> {
    return new Promise<void>((resolve, reject) => this.add(workerId, undefined, target, undefined, (_, err) => (err ? reject(err) : resolve()), true));
  }

  /**
   * ack() without a promise: `done` is called with `target` once the broker answered (an
   * error when it refused). For callers that settle many jobs with one callback
   * (QueueConsumer.run): no promise, resolver or closure per ack. `waited`: a caller awaits
   * `done` (a promise it handed out), so an acquire carrying it asks for a prompt outcome.
   */
  ackThen<T extends AckTarget>(workerId: string, target: T, done: AckDone<T>, waited = false): void {
    this.add(workerId, undefined, target, undefined, done as AckDone, waited);
  }

  /**
   * Gives `target` back for `workerId` (a release of kind unstarted: not a delivery attempt)
   * under `holder`, the token the job was acquired under: the broker refuses it
   * (INVALID_RECORD_STATE) once that is not the worker's token. Resolves once answered.
   */
  giveBack(workerId: string, target: AckTarget, holder: string | undefined, reason?: string): Promise<void> {
    const giveBack = reason !== undefined ? { reason } : {};
    return new Promise<void>((resolve, reject) => this.add(workerId, holder, target, giveBack, (_, err) => (err ? reject(err) : resolve()), true));
  }

  private add(workerId: string, holder: string | undefined, target: AckTarget, giveBack: PendingAck['giveBack'], done: AckDone, waited: boolean): void {
    const a: PendingAck = { target, giveBack, done, waited };
    const k = unitKey(workerId, holder);
    const u = this.pending.get(k);
    if (u) u.acks.push(a);
    else this.pending.set(k, { workerId, holder, acks: [a] });
    if (this.scheduled) return;
    const before = this.last;
    const flush = (this.scheduled = new Promise<void>((r) => setImmediate(r)).then(() => {
      // The turn: an acquire sent now carries what is pending (carry()); the flush sends the rest.
      for (const fn of this.turnHooks) fn();
      return before.catch(() => undefined);
    }).then(() => this.flush()));
    this.last = flush;
    this.flushing.add(flush);
    void flush.finally(() => this.flushing.delete(flush));
  }

  /**
   * Resolves once every ack made before the call is answered. Outcomes of carried settles
   * that wait for the worker's next request (`later`) are collected with a ShareAck of no
   * entries (the broker answers it once they are durable, with them).
   */
  async idle(): Promise<void> {
    while (this.flushing.size > 0) {
      const later = [...this.carried.values()].find((c) => c.later && !c.over);
      if (later) await this.collectOwed(later);
      await Promise.allSettled([...this.flushing]);
    }
  }

  /** Asks for the outcomes owed on the connection (a ShareAck of no entries, for `c`'s first worker). */
  private async collectOwed(c: Carried): Promise<void> {
    try {
      const res = await this.send({ groupId: this.groupId, workerId: c.units[0].workerId, entries: [] });
      this.told(res.acked);
      // Not owed on this connection (the coordinator moved since): the broker that took them
      // pushes them on the connection they came on; wait for that, up to the timeout.
      if (!c.over) {
        c.later = false;
        this.armTimeout(c);
      }
    } catch (err) {
      this.fail(c, err as Error);
    }
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    this.scheduled = null;
    if (batch.size === 0) return; // an acquire carried them
    const work: Work = new Map();
    for (const [k, { workerId, holder, acks }] of batch) work.set(k, { workerId, holder, entries: byPartition(acks) });
    const retry: Work = new Map();
    await this.sendAll(work, this.collect(retry));
    await this.retry(retry);
  }

  /** Answers each entry; a merged entry that failed goes into `retry`, one offset per entry. */
  private collect(retry: Work): Each {
    return (unit, entry, error) => {
      if (!error) for (const a of entry) a.done(a.target);
      else if (entry.length === 1) entry[0].done(entry[0].target, error);
      else {
        // One merged entry failed as a whole: find the culprits by sending one offset per entry.
        const k = unitKey(unit.workerId, unit.holder);
        const u = retry.get(k) ?? { workerId: unit.workerId, holder: unit.holder, entries: [] };
        retry.set(k, u);
        for (const a of entry) u.entries.push([a]);
      }
    };
  }

  private async retry(retry: Work): Promise<void> {
    if (retry.size === 0) return;
    await this.sendAll(retry, (_, entry, error) => {
      entry[0].done(entry[0].target, error);
    });
  }

  /** Sends `work` in as few requests as the broker takes; calls `each` with every entry and its error (undefined: acked). */
  private async sendAll(work: Work, each: Each): Promise<void> {
    const workers = [...work.values()];
    const sends: Promise<void>[] = [];
    for (let i = 0; i < workers.length;) {
      // Whole workers per request, within the broker's limit of offsets per ShareAck.
      let n = 0;
      let offsets = 0;
      while (i + n < workers.length && (n === 0 || (this.coalesce && offsets + count(workers[i + n].entries) <= MAX_ACK_OFFSETS))) offsets += count(workers[i + n++].entries);
      sends.push(this.sendOne(workers.slice(i, i + n), each));
      i += n;
    }
    await Promise.all(sends);
  }

  private async sendOne(units: Unit[], each: Each): Promise<void> {
    const [first, ...rest] = units;
    let res: ShareAckResponse;
    try {
      res = await this.send({
        groupId: this.groupId, workerId: first.workerId, ...holderOf(first), entries: first.entries.map(entryOf),
        ...(rest.length > 0 && { workers: rest.map((u) => ({ workerId: u.workerId, ...holderOf(u), entries: u.entries.map(entryOf) })) }),
      });
    } catch (err) {
      for (const u of units) for (const e of u.entries) for (const a of e) a.done(a.target, err as Error);
      return;
    }
    this.told(res.acked);
    answer(first, res.results, each);
    if (rest.length === 0) return;
    if (res.workers) {
      rest.forEach((u, i) => answer(u, res.workers![i]?.results ?? [], each));
      return;
    }
    // A broker before `workers`: it applied only the first worker's entries.
    this.coalesce = false;
    await this.sendAll(new Map(rest.map((u) => [unitKey(u.workerId, u.holder), u])), each);
  }
}

type Each = (unit: Unit, entry: Entry, error?: Error) => void;

function unitKey(workerId: string, holder: string | undefined): string {
  return holder === undefined ? workerId : `${workerId}\u0000${holder}`;
}

function holderOf(u: Unit): { holder?: string } {
  return u.holder === undefined ? {} : { holder: u.holder };
}

/** A worker's settles grouped into one entry per partition and kind (ack, or give-back with its reason), in first-seen order. */
function byPartition(acks: PendingAck[]): Entry[] {
  const byTp = new Map<string, Entry>();
  let last: Entry | undefined;
  let lastAck: PendingAck | undefined;
  for (const a of acks) {
    // A worker's acks are nearly always all of one partition: an ack of the same partition
    // and kind as the one before joins its entry with no key built (a string and a Map
    // lookup per job otherwise, docs/queue-performance.md step 16).
    if (last && sameEntry(a, lastAck!)) {
      last.push(a);
      lastAck = a;
      continue;
    }
    const tp = tpKey(a.target.topic, a.target.partition);
    const k = a.giveBack ? `${tp}\u0000release\u0000${a.giveBack.reason ?? ''}` : tp;
    const l = byTp.get(k);
    if (l) l.push(a);
    else byTp.set(k, [a]);
    last = l ?? byTp.get(k);
    lastAck = a;
  }
  return [...byTp.values()];
}

/** Whether `a` belongs in the entry of `b`: the same partition, and both acks or both give-backs with the same reason. */
function sameEntry(a: PendingAck, b: PendingAck): boolean {
  if (a.target.partition !== b.target.partition || a.target.topic !== b.target.topic) return false;
  if (!a.giveBack || !b.giveBack) return !a.giveBack && !b.giveBack;
  return (a.giveBack.reason ?? '') === (b.giveBack.reason ?? '');
}

function entryOf(e: Entry): ShareAckEntry {
  const { target, giveBack } = e[0];
  const offsets = e.map((a) => a.target.offset);
  if (!giveBack) return { topic: target.topic, partition: target.partition, offsets, type: 'ack' };
  return { topic: target.topic, partition: target.partition, offsets, type: 'release', kind: 'unstarted', ...(giveBack.reason !== undefined && { reason: giveBack.reason }) };
}

function count(entries: Entry[]): number {
  let n = 0;
  for (const e of entries) n += e.length;
  return n;
}

/** Hands each entry its result; an entry the broker did not answer is not called acked. */
function answer(unit: Unit, results: ShareAckResult[], each: Each): void {
  unit.entries.forEach((e, i) => {
    const r = results[i];
    if (r === undefined) each(unit, e, new SluiceError('UNKNOWN_SERVER_ERROR', `ShareAck: the broker answered ${results.length} of ${unit.entries.length} entries of worker ${unit.workerId}`));
    else each(unit, e, r.error && fromWireError(r.error));
  });
}
