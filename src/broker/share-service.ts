/**
 * The broker's queue mode: the share coordinator (src/queue/, pure), its state log, the
 * housekeeping timer and the bookkeeping the handlers (handle-share-*.ts) share.
 *
 *   - tick every TICK_MS, and at the next lock deadline when that comes sooner: expired
 *     locks and silent workers release their records (dead letters when out of attempts);
 *     parked acquirers retry, since records may have become available by time alone (lock
 *     expiry, end of a backoff) with no append to wake them.
 *   - a worker is tied to the connection its acquires came on: when that connection closes
 *     (process killed, network gone) the worker leaves and its records are released at once,
 *     rather than after sessionTimeoutMs.
 *   - writes are serialised by the state log; `work()` runs a change + dead letters +
 *     persist so that no two runs interleave their dead-letter appends and persists.
 *   - topic events (storage/topic-events.ts): a deleted topic's share-partitions are
 *     dropped, locks included, with no dead letters; when a topic of that name is created
 *     again, the groups that had read it start over at the new log's start (a warn line
 *     says so, with the old and new positions); partitions added to a topic a group reads
 *     start at their beginning. Without this a group kept its old position and delivered
 *     nothing until the new log passed it.
 *   - a record is archived only once its dead-letter copy is durably appended
 *     (coord.deadLettersWritten). A copy that fails (the topic cannot be created,
 *     disk error) is logged at error, counted, and retried by the tick with backoff
 *     (DEAD_LETTER_RETRY_MS doubling to DEAD_LETTER_RETRY_MAX_MS); its record stays in
 *     flight, held by the dead-letter writer, and the hold is in the state log: a coordinator
 *     that loads it (a restart, a move) resumes the copy (open(), deadLettersToResume) and
 *     never hands the record out. A retried or resumed copy is first looked for in the
 *     dead-letter topic's tail (share-dead-letters.ts), so it is not written twice.
 *
 * One instance per share state log: on a single node one per broker; in cluster mode one per
 * partition of `__share_state` this broker leads. Found with `shareServiceFor(ctx, groupId)`
 * (share-coordinators.ts).
 */
import { randomUUID } from 'node:crypto';
import { SluiceError } from '../errors.js';
import { ShareCoordinator } from '../queue/share-coordinator.js';
import { ShareStateLog, SHARE_STATE_PREFIX } from '../queue/share-state-log.js';
import type { ShareGroup } from '../queue/share-group.js';
import type { GenerationDir } from '../state-log/generation-log.js';
import type { DeadLetter } from '../queue/types.js';
import { isInternalTopicName } from '../topic-name.js';
import { tpKey } from '../protocol/topic-partition.js';
import type { BrokerContext, RequestScope } from './context.js';
import { writeDeadLetters } from './share-dead-letters.js';
import { quarantineSkipped } from './state-quarantine.js';
import { shareGroupKey, SHARE_TICK_KEY } from './purgatory.js';

export const TICK_MS = 250;
/** Wait before retrying a failed dead-letter write; doubles per failure in a row up to DEAD_LETTER_RETRY_MAX_MS. */
export const DEAD_LETTER_RETRY_MS = 1_000;
export const DEAD_LETTER_RETRY_MAX_MS = 60_000;

/** How one share coordinator keeps its state log. */
export interface ShareServiceOptions {
  /**
   * Cluster mode: the state log is a partition of the replicated `__share_state` topic
   * (replicated-generation-dir.ts): every write is an acks=all produce, so nothing is
   * answered before the in-sync replicas hold it; there is one generation, compacted in place
   * (a snapshot, then the log start moves to it), and a failed write cannot be repaired by a
   * snapshot of memory: `onWriteFailed` is called and the owner reloads this coordinator from
   * the replica (share-coordinators.ts).
   */
  replicated?: { partition: number; onWriteFailed: () => void };
}

export class ShareService {
  readonly coord: ShareCoordinator;
  /**
   * This coordinator's identity, unique per load (a reload or a move makes a new one): the
   * first part of every holder token (holderOf).
   */
  private readonly instance = randomUUID();
  /** A serial per group object, so a group deleted and created again gives its workers new holders. */
  private readonly groupSerials = new WeakMap<ShareGroup, number>();
  private nextGroupSerial = 1;
  private state!: ShareStateLog;
  private timer: NodeJS.Timeout | undefined;
  /** One-shot tick at the next lock deadline when it falls before the next interval tick. */
  private precise: NodeJS.Timeout | undefined;
  private preciseAt = Infinity;
  private closing = false;
  /** close() closed the state log: writes are refused from then on. */
  private stateClosed = false;
  /**
   * Replicated: a write of this service failed, so its memory is ahead of the log and it is
   * being replaced (onWriteFailed). Every commit from then on fails: its changes may have been
   * drained into the write that failed, and answering it would acknowledge what no replica holds.
   */
  private writeFailed = false;
  /** Workers per connection, so a closed connection makes its workers leave. */
  private readonly byConnection = new Map<RequestScope, Map<string, { groupId: string; workerId: string }>>();
  /** The connection each worker last spoke on: a worker that moved is no longer the old one's. */
  private readonly scopeOf = new Map<string, RequestScope>();
  private ticking = false;
  private chain: Promise<unknown> = Promise.resolve();
  /** The run new commits join: queued or started, not yet drained (see commit()). */
  private pending: PendingRun | undefined;
  /** A commit since the last drain asked for fsync (see commit()). */
  private durableWanted = false;
  /**
   * Deleted topics that groups had read: group -> partition -> start when deleted, so a
   * topic created again under the name starts those groups over (topicCreated). In memory
   * only: after a restart in between, a group meets the new topic as any topic it has not
   * read (its startFrom).
   */
  private readonly deletedReads = new Map<string, Map<string, Map<number, number>>>();
  private readonly unsubscribe: (() => void)[] = [];
  /** Dead letters whose copy failed, by record: the tick retries them from `deadLetterRetryAt` on. */
  private readonly owedDeadLetters = new Map<string, DeadLetter>();
  private deadLetterRetryAt = 0;
  /**
   * Dead letters tried before (owed after a failure, or resumed from the state log at load):
   * their copy may already be in the topic, so the writer looks for it first.
   */
  private readonly retriedDeadLetters = new WeakSet<DeadLetter>();
  /** Dead-letter writes that failed in a row (the backoff's exponent). */
  private deadLetterFailures = 0;

  private constructor(private readonly ctx: BrokerContext, private readonly opts: ShareServiceOptions) {
    this.coord = new ShareCoordinator({ defaults: ctx.config.share, onLimited: (group, limit) => ctx.metrics.shareLimited(group, limit) });
  }

  /**
   * Replays `dir` into a new coordinator and starts its tick. Single node: the local
   * generation topics `__share_state-<n>` (logManagerGenerationDir). Cluster mode: one
   * partition of `__share_state` as its leader (share-coordinators.ts).
   */
  static async open(ctx: BrokerContext, dir: GenerationDir, opts: ShareServiceOptions = {}): Promise<ShareService> {
    const s = new ShareService(ctx, opts);
    const p = opts.replicated?.partition;
    s.state = await ShareStateLog.open(dir, s.coord, {
      onCompactionError: (err) => ctx.log.error('share state compaction failed', { error: err, ...(p !== undefined && { partition: p }) }),
      // Compaction with the single broker's thresholds (CompactedLog's) on both; replicated,
      // in place: a snapshot into the partition, then its log start moves there
      // (replicated-generation-dir.ts). Only a single node quarantines bad records.
      ...(p === undefined && { onBadRecord: quarantineSkipped(ctx.logs.dataDir, 'share_state', SHARE_STATE_PREFIX, ctx.log, ctx.metrics) }),
    });
    // Records the state log holds for their dead-letter copy (rejected, or out of attempts,
    // before this coordinator's predecessor wrote the copy): the first tick copies them; they
    // are never handed out meanwhile.
    const resumed = s.coord.deadLettersToResume();
    for (const dl of resumed) {
      s.owedDeadLetters.set(deadLetterKey(dl), dl);
      s.retriedDeadLetters.add(dl);
    }
    if (resumed.length) ctx.log.info('dead letters resumed', { records: resumed.length, groups: [...new Set(resumed.map((d) => d.group))], ...(p !== undefined && { partition: p }) });
    s.timer = setInterval(() => s.tick(), TICK_MS);
    s.timer.unref();
    const events = ctx.logs.events;
    s.unsubscribe.push(
      events.on('topicDeleted', (e) => s.topicDeleted(e.topic)),
      events.on('topicCreated', (e) => s.topicCreated(e.topic, e.partitions)),
      events.on('partitionsAdded', (e) => s.partitionsAdded(e.topic, e.from, e.to)),
    );
    const groups = s.coord.groups();
    if (groups.length) ctx.log.info('share groups restored', { groups: groups.length, stateGeneration: s.state.generation, ...(p !== undefined && { partition: p }) });
    return s;
  }

  /** Writes the state durably and stops; connection closes after this do not release anything. */
  async close(): Promise<void> {
    this.closing = true;
    for (const off of this.unsubscribe.splice(0)) off();
    clearInterval(this.timer);
    clearTimeout(this.precise);
    // Parked acquires answer now, with nothing (see handle-share-acquire.ts).
    this.ctx.delayed.finish(SHARE_TICK_KEY);
    if (this.owedDeadLetters.size) {
      this.ctx.log.warn('dead letters not written at shutdown; the next coordinator resumes their copy', { records: this.owedDeadLetters.size });
    }
    // Replicated: every change a worker was answered for is in the log already, and this
    // broker may no longer lead the partition (a write would only fail).
    if (!this.opts.replicated) await this.state.persist(true).catch((err: unknown) => this.ctx.log.error('share state persist failed', { error: err }));
    // A rewrite that a failed write asked for (failedWrite) is finished first: the state log's
    // close() gives up a compaction that has not reached its switch, and this one is what puts
    // the log right again (test/broker/share-service.test.ts, "the rewrite a failed write asks for").
    await this.state.idle();
    // Waits for a compaction under way too (the broker closes the log manager next); a commit
    // from now on is refused (failedWrite).
    this.stateClosed = true;
    await this.state.close();
  }

  get accepting(): boolean {
    return !this.closing;
  }

  /**
   * Persists coordinator changes; dead letters are appended first, and the records whose copy
   * is written are archived before the persist (see share-dead-letters.ts). A failed copy
   * does not fail the commit: it is owed and retried (copyDeadLetters). Call it in the same
   * tick as the coordinator change it covers.
   */
  commit(dls: readonly DeadLetter[], durable: boolean): Promise<void> {
    // A persist drains *every* pending change, so an earlier queued non-durable commit may
    // write this caller's change: it must then be durable, or an ack (or a delete) would be
    // answered before its fsync. The flag is read in the same tick as the drain.
    if (durable) this.durableWanted = true;
    // Commits join the next run that has not drained yet (group commit): its drain writes
    // their changes, made before it. One run per commit, each queued behind the one before,
    // made a pick-up wait for every ack queued ahead of it, each run one event-loop turn
    // plus one write, though the first of them had written its change already
    // (docs/queue-performance.md, "Pick-up latency"). A commit with dead letters joins only
    // a run that has not started: a started one may be past its dead-letter append.
    let run = this.pending;
    if (!run || (run.started && dls.length > 0)) run = this.startRun();
    run.dls.push(...dls);
    run.durable ||= durable;
    return run.done.then(({ persisted }) => {
      const p = persisted.catch((err: unknown) => this.failedWrite(err));
      if (durable) return p;
      // A non-durable commit (an acquisition, the tick) is answered once its change is in
      // the log, as when it runs alone: one that joined an ack's run waited for that ack's
      // fsync (docs/queue-performance.md, step 10). The fsync's failure is still handled
      // (failedWrite) and told to the durable members; this caller's change was written.
      p.catch(() => undefined);
      return undefined;
    });
  }

  /** A run of the commit chain (see commit()); `pending` until it drains. */
  private startRun(): PendingRun {
    const pending: PendingRun = { dls: [], durable: false, started: false, done: undefined! };
    this.pending = pending;
    // Serialised: a persist must not overtake another run's dead-letter append (the state
    // would call a record archived before its copy is in the DLQ). A run ends once its
    // write is in the state log, not once it is fsynced: the next run, an acquisition's say,
    // does not wait for this one's fsync (the caller of a durable commit does).
    // The drain waits for the end of the current I/O phase, so the commits of the requests
    // read from the sockets together share one append (docs/queue-performance.md, step 3).
    pending.done = this.chain.then(async () => {
      pending.started = true;
      // A replicated service that is closing (dropped: another coordinator may own the
      // partition, or this one reloads it) or whose write failed answers nothing more: a
      // persist that finds nothing left to write (an earlier, failed one drained it) would
      // otherwise resolve and acknowledge a change no replica holds.
      const r = this.opts.replicated;
      if (r && (this.closing || this.writeFailed)) {
        if (this.pending === pending) this.pending = undefined;
        throw new SluiceError('NOT_COORDINATOR', `share coordinator of __share_state-${r.partition} is ${this.writeFailed ? 'reloading after a failed write' : 'closed'}`);
      }
      if (pending.dls.length) await this.copyDeadLetters(pending.dls);
      await new Promise<void>((r) => setImmediate(r));
      if (this.pending === pending) this.pending = undefined;
      const d = this.durableWanted;
      this.durableWanted = false;
      // `|| durable`: an earlier run may have drained (and written durably) a member's
      // change; with nothing left to write, the persist then waits for that write's fsync.
      const w = this.state.write(d || pending.durable);
      // The write (not its fsync) is waited for here: a failed one must be handled before
      // the next run, which would otherwise find nothing to write and answer a change the
      // log does not hold.
      try {
        await w.written;
      } catch (err) {
        return this.failedWrite(err);
      }
      return { persisted: w.done };
    });
    this.chain = pending.done.catch(() => undefined);
    return pending;
  }

  /** A state write (or its fsync) failed: the caller gets the error, and the coordinator is put right. */
  private async failedWrite(err: unknown): Promise<never> {
    const r = this.opts.replicated;
    if (r) {
      this.writeFailed = true;
      // Leadership moved, or the ISR shrank below minInsyncReplicas: the caller gets a
      // retriable error, and memory (ahead of the log now) is rebuilt from the replica.
      this.ctx.log.warn('share state write failed; reloading the coordinator from its replica', { partition: r.partition, error: err });
      r.onWriteFailed();
      throw err;
    }
    // The state log is closed (a request still in flight at shutdown): the caller gets the
    // retriable refusal, and the change, unanswered, is redone or delivered again after the
    // restart. No rewrite: the closed log takes none.
    if (this.stateClosed) throw err;
    // The drained changes are lost to the log but still in memory: a snapshot of memory
    // puts the log right again (else a restart would revive, say, a deleted group).
    this.ctx.log.error('share state write failed; rewriting the state from memory', { error: err });
    await this.state.compact().catch((e: unknown) => this.ctx.log.error('share state rewrite failed', { error: e }));
    throw err;
  }

  /**
   * Appends the dead-letter copies and archives the records whose copy is durable (or whose
   * source retention deleted). The rest stay held by the dead-letter writer and are owed:
   * logged at error, counted, retried by the tick after a backoff.
   */
  private async copyDeadLetters(dls: readonly DeadLetter[]): Promise<void> {
    const res = await writeDeadLetters(this.ctx, dls, (dl) => this.retriedDeadLetters.has(dl));
    this.coord.deadLettersWritten(res.written);
    this.coord.deadLettersWritten(res.found);
    this.coord.deadLettersWritten(res.gone);
    for (const dl of [...res.written, ...res.found, ...res.gone]) this.owedDeadLetters.delete(deadLetterKey(dl));
    if (res.found.length) this.ctx.log.info('dead letter copies found in the topic, not written again', { records: res.found.length, groups: [...new Set(res.found.map((d) => d.group))] });
    if (res.failed.length === 0) {
      this.deadLetterFailures = 0;
      return;
    }
    this.deadLetterFailures++;
    const retryInMs = Math.min(DEAD_LETTER_RETRY_MAX_MS, DEAD_LETTER_RETRY_MS * 2 ** Math.min(this.deadLetterFailures - 1, 16));
    this.deadLetterRetryAt = Date.now() + retryInMs;
    for (const f of res.failed) {
      const perGroup = new Map<string, number>();
      for (const dl of f.dls) {
        this.owedDeadLetters.set(deadLetterKey(dl), dl);
        this.retriedDeadLetters.add(dl);
        perGroup.set(dl.group, (perGroup.get(dl.group) ?? 0) + 1);
      }
      for (const [group, n] of perGroup) this.ctx.metrics.deadLetterFailed(group, n);
      this.ctx.log.error('dead letter write failed; the records stay unarchived and the write is retried', {
        deadLetterTopic: f.topic, groups: [...perGroup.keys()], records: f.dls.length, retryInMs, error: f.error,
      });
    }
  }

  /** The owed dead letters once their backoff passed, minus those no longer waiting (group deleted or reset). */
  private dueDeadLetters(): DeadLetter[] {
    if (this.owedDeadLetters.size === 0 || Date.now() < this.deadLetterRetryAt) return [];
    const due = [...this.owedDeadLetters.values()].filter((dl) => this.coord.awaitingDeadLetter(dl));
    this.owedDeadLetters.clear();
    return due;
  }

  /**
   * The holder token of `workerId` now (ShareAcquire answers carry it; docs/queue.md, "A
   * delivery attempt is an acquisition"): this coordinator instance, the group object and the
   * worker's handle in it. Locks the worker got under a token stay its own exactly as long as
   * the token is unchanged: a reload or a move makes a new instance, a worker that left
   * (connection closed, session timeout) and came back gets a new handle. So a worker that saw
   * a coordinator error keeps its prefetched jobs when the next answer shows the same token,
   * and a give-back carrying a token (ShareAck `holder`) is refused once it changed, so it
   * never releases a record the worker acquired again under a new token. Undefined when the
   * group does not know the worker.
   */
  holderOf(groupId: string, workerId: string): string | undefined {
    const g = this.coord.group(groupId);
    const w = g?.workers.get(workerId);
    if (!g || !w) return undefined;
    let serial = this.groupSerials.get(g);
    if (serial === undefined) this.groupSerials.set(g, (serial = this.nextGroupSerial++));
    return `${this.instance}.${serial}.${w.handle}`;
  }

  /** Remembers that `workerId` speaks on `scope`; when it closes, the worker leaves. */
  bindWorker(scope: RequestScope | undefined, groupId: string, workerId: string): void {
    if (!scope || scope.closed) return;
    const key = groupId + '\0' + workerId;
    // A worker that reconnected before the broker saw its old connection die: when that one
    // closes, the worker must not leave (it would lose the jobs it is still working on).
    const old = this.scopeOf.get(key);
    if (old !== undefined && old !== scope) this.byConnection.get(old)?.delete(key);
    this.scopeOf.set(key, scope);
    let m = this.byConnection.get(scope);
    if (!m) {
      this.byConnection.set(scope, (m = new Map()));
      scope.onClose(() => this.connectionClosed(scope));
    }
    if (!m.has(key)) m.set(key, { groupId, workerId });
  }

  unbindWorker(scope: RequestScope | undefined, groupId: string, workerId: string): void {
    if (!scope) return;
    const key = groupId + '\0' + workerId;
    this.byConnection.get(scope)?.delete(key);
    if (this.scopeOf.get(key) === scope) this.scopeOf.delete(key);
  }

  /** False once the worker left on this connection (a parked acquire must not take records for it). */
  isBound(scope: RequestScope | undefined, groupId: string, workerId: string): boolean {
    return !scope || (this.byConnection.get(scope)?.has(groupId + '\0' + workerId) ?? false);
  }

  /**
   * Tells a worker that records it held were cancelled (handle-share-cancel.ts), on the
   * connection it last spoke on; nothing when it has none (it learns at its next settle).
   */
  pushCancel(groupId: string, workerId: string, topic: string, partition: number, offsets: readonly number[]): void {
    const scope = this.scopeOf.get(groupId + '\0' + workerId);
    if (scope && !scope.closed) scope.push({ id: 0, push: 'share-cancel', groupId, workerId, topic, partition, offsets });
  }

  /** Records of `groupId` may be available again (released, a worker left): its parked acquires retry. */
  wakeGroup(groupId: string): void {
    this.ctx.delayed.wake(shareGroupKey(groupId));
  }

  /** The topic is gone: every group forgets its partitions of it (see the file comment). */
  private topicDeleted(topic: string): void {
    if (isInternalTopicName(topic)) return;
    const dropped = this.coord.topicDeleted(topic);
    if (dropped.length === 0) return;
    const reads = new Map<string, Map<number, number>>();
    for (const d of dropped) {
      reads.set(d.group, new Map(d.partitions.map((p) => [p.partition, p.startOffset])));
      this.ctx.log.warn('share group state of a deleted topic dropped', {
        group: d.group, topic, partitions: d.partitions.map((p) => ({ partition: p.partition, position: p.startOffset, inFlight: p.inFlight })),
      });
    }
    this.deletedReads.set(topic, reads);
    this.persistTopicChange(dropped.map((d) => d.group));
  }

  /** A topic of a name groups had read before it was deleted: they start over at the new log's start. */
  private topicCreated(topic: string, partitions: number): void {
    const reads = this.deletedReads.get(topic);
    if (!reads) return;
    this.deletedReads.delete(topic);
    const groups: string[] = [];
    for (const [group, before] of reads) {
      if (!this.coord.group(group)) continue; // deleted meanwhile
      const targets = this.logStarts(topic, 0, partitions);
      this.coord.startPartitionsAt(group, topic, targets);
      groups.push(group);
      this.ctx.log.warn('share group starts over on a re-created topic', {
        group, topic, partitions: targets.map((t) => ({ partition: t.partition, from: before.get(t.partition) ?? -1, to: t.offset })),
      });
    }
    this.persistTopicChange(groups);
  }

  /** New partitions of a topic groups read: served from their first record (not from where the log is when a worker next asks). */
  private partitionsAdded(topic: string, from: number, to: number): void {
    if (isInternalTopicName(topic)) return;
    const groups = this.coord.groupsReading(topic);
    for (const group of groups) {
      this.coord.startPartitionsAt(group, topic, this.logStarts(topic, from, to));
      this.ctx.log.info('share group reads new partitions', { group, topic, from, to });
    }
    this.persistTopicChange(groups);
  }

  private logStarts(topic: string, from: number, to: number): { partition: number; offset: number; logEndOffset: number }[] {
    const out: { partition: number; offset: number; logEndOffset: number }[] = [];
    for (let partition = from; partition < to; partition++) {
      const log = this.ctx.logs.log(topic, partition);
      if (log) out.push({ partition, offset: log.logStartOffset, logEndOffset: log.logEndOffset });
    }
    return out;
  }

  /** Writes a topic-driven change durably and lets the groups' parked acquires look again. */
  private persistTopicChange(groups: readonly string[]): void {
    if (groups.length === 0 || this.closing) return;
    this.commit([], true).then(
      () => { for (const g of groups) this.wakeGroup(g); },
      (err: unknown) => this.ctx.log.error('share state persist failed', { error: err }),
    );
  }

  private connectionClosed(scope: RequestScope): void {
    const m = this.byConnection.get(scope);
    this.byConnection.delete(scope);
    if (!m) return;
    for (const key of m.keys()) if (this.scopeOf.get(key) === scope) this.scopeOf.delete(key);
    if (this.closing) return;
    const dls: DeadLetter[] = [];
    for (const { groupId, workerId } of m.values()) {
      dls.push(...this.coord.leave(groupId, workerId));
      this.ctx.log.debug('share worker gone with its connection', { group: groupId, worker: workerId });
    }
    this.commit(dls, true).then(
      () => { for (const { groupId } of m.values()) this.wakeGroup(groupId); },
      (err: unknown) => this.ctx.log.error('share state persist failed', { error: err }),
    );
  }

  private tick(): void {
    if (this.closing) return;
    if (this.ticking) {
      // A precise tick that lands on a running one must not be lost: try again shortly.
      this.armAt(Math.max(this.coord.nextWakeAt(), Date.now() + 5));
      return;
    }
    this.ticking = true;
    const dls = this.coord.tick();
    dls.push(...this.dueDeadLetters());
    this.commit(dls, dls.length > 0).then(
      () => this.ctx.delayed.wake(SHARE_TICK_KEY),
      (err: unknown) => this.ctx.log.error('share tick failed', { error: err }),
    ).finally(() => {
      this.ticking = false;
      this.armAt(this.coord.nextWakeAt());
    });
  }

  /**
   * The interval tick alone would redeliver an expired record (or hand out a delayed one) up
   * to TICK_MS late; when the next lock deadline or due time comes before the next interval
   * tick, tick at it instead.
   */
  private armAt(at: number): void {
    if (this.closing || !Number.isFinite(at)) return;
    const delay = at - Date.now();
    if (delay >= TICK_MS || (this.precise && this.preciseAt <= at)) return;
    clearTimeout(this.precise);
    this.preciseAt = at;
    this.precise = setTimeout(() => {
      this.precise = undefined;
      this.preciseAt = Infinity;
      this.tick();
    }, Math.max(0, delay + 1));
    this.precise.unref();
  }
}

/** Commits that one state write covers: their dead letters are appended first, then one drain. */
interface PendingRun {
  readonly dls: DeadLetter[];
  /** A member asked for fsync. */
  durable: boolean;
  /** Past the chain: a commit with dead letters no longer joins (its append could come after the run's). */
  started: boolean;
  done: Promise<{ persisted: Promise<void> }>;
}

function deadLetterKey(dl: DeadLetter): string {
  return dl.group + '\0' + tpKey(dl.topic, dl.partition) + '\0' + dl.offset;
}
