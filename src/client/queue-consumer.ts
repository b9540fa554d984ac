/**
 * QueueConsumer: one worker of a share group (queue mode, docs/queue.md).
 *
 *   const queue = new QueueConsumer({ url, groupId: 'mailer', topics: 'emails', concurrency: 8 });
 *   for await (const job of queue) { await send(job.value); await job.ack(); }
 *
 * Any number of workers may read the same topics, whatever the partition count: the broker
 * locks each record to one worker. `concurrency` bounds the jobs this worker holds (buffered
 * plus handed out and not yet settled), i.e. its prefetch: one long-poll ShareAcquire asks
 * for the free slots, and the next goes out as soon as a job is settled (while more than half
 * the slots hold buffered jobs the application has not taken, once half are free). A slow
 * worker therefore asks less often and gets less.
 *
 * Acks are coalesced: every ack made in the same tick goes out as one ShareAck (one entry
 * per partition). An entry is all or nothing at the broker, so when a merged entry fails its
 * offsets are retried one by one and only the job at fault sees the error. Workers of one
 * group in one process can share a connection (`shareConnectionWith`): their acks of a tick
 * then travel in one ShareAck, each worker's entries answered on their own
 * (client/share-ack-batcher.ts).
 *
 * Liveness: a heartbeat (ShareAcquire with maxRecords 0) on its own timer keeps the worker
 * in the group while every slot is busy. If the connection drops, the broker treats the
 * worker as gone and releases its records; settling them afterwards fails with
 * UNKNOWN_MEMBER_ID / INVALID_RECORD_STATE and they are delivered again (at-least-once).
 *
 * close(): gives back jobs not yet handed to the application as `unstarted` releases (at
 * once, and not counted as delivery attempts: a prefetch must not push untouched jobs toward
 * the DLQ), waits for pending acks and for an acquire still out (up to maxWaitMs; what it
 * brings is given back too), leaves the group (jobs handed out and still held are
 * released by the broker as failed attempts) and closes the connection. With `maxMessages`
 * the worker never holds more jobs than it may still hand out.
 *
 * close({ drain: true, timeoutMs }): graceful drain. No more acquires and no more jobs handed
 * out; the prefetched ones go back unstarted at once (another worker takes them now); then it
 * waits, up to timeoutMs, for the jobs already handed out to be settled (run() acks its
 * handlers' successes and releases their failures as usual), and closes as above. Jobs
 * still running at the timeout are released by the leave as failed attempts, and their
 * `signal` is aborted (code CLIENT_CLOSED): run() does not settle them.
 *
 * Cancel: an admin's cancel of a job this worker holds arrives as a push
 * (`{ push: 'share-cancel', ... }`, docs/protocol.md) on the coordinator's connection. A job
 * still buffered is dropped; one handed out has its `signal` aborted (run() passes it as
 * `{ signal }`), its slot is freed, and run() does not ack it.
 */
import { randomUUID } from 'node:crypto';
import {
  Api, type ShareAckEntry, type ShareAcquireResponse, type ShareGroupSettings,
} from '../protocol/api.js';
import { fromWireError } from '../protocol/errors.js';
import { SluiceError } from '../errors.js';
import type { Connection } from './connection.js';
import { bootstrapUrls } from './broker-list.js';
import { BrokerPool, type ClientOptions } from './broker-pool.js';
import { CoordinatorRoute } from './coordinator-route.js';
import { clientLogger, errorText, type Logger } from './logger.js';
import { InvalidArgumentError } from './errors.js';
import { decodeMessages } from './message-decoder.js';
import type { Job, JobSettler, ReleaseOptions } from './queue-job.js';
import { HeldJob, JobSet } from './held-job.js';
import { ShareAckBatcher } from './share-ack-batcher.js';
import { tpKey } from '../protocol/topic-partition.js';

/**
 * A share group is kept by its coordinator: on a single broker the one the worker is connected
 * to; in a cluster the leader of the group's `__share_state` partition, found with
 * FindCoordinator and followed across a move (client/coordinator-route.ts).
 */
export interface QueueConsumerOptions extends ClientOptions {
  groupId: string;
  topics: string | string[];
  /** Stable id of this worker; default a random UUID. */
  workerId?: string;
  /**
   * Another worker of the same group whose connection (and coordinator route) this one uses
   * instead of opening its own: the acks of both (of all workers sharing it) made in the same
   * tick go out as one ShareAck, so the broker answers one request, with one fsync, for all
   * of them. The connection closes when the last worker sharing it closes. The connection
   * options of this worker are then not used.
   */
  shareConnectionWith?: QueueConsumer;
  /** Most jobs held at once (prefetch). Default 10. */
  concurrency?: number;
  /**
   * Hand out at most this many jobs in all; the iteration (and run()) then ends. Acquires
   * never ask for more than are left, so a worker that stops after N jobs holds no others.
   * Default: no limit.
   */
  maxMessages?: number;
  /** Long-poll wait of one acquire when the queue is empty. Default 5000 ms. */
  maxWaitMs?: number;
  /** Heartbeat period; keep well below the group's sessionTimeoutMs. Default 3000 ms. */
  heartbeatIntervalMs?: number;
  /**
   * Group settings, applied when this worker's first acquire creates the group. On a group
   * that exists, the ones given must be the group's: when one differs, the broker refuses
   * the worker's first acquire (INCONSISTENT_GROUP_PROTOCOL, naming each with both values
   * and the `sluice queue alter` that changes the group), and run() rejects with that error
   * (a for-await loop throws it). Settings left out are not compared. Checked only when the
   * worker joins: a group altered under a running worker does not stop it. A broker before
   * this check keeps the group's settings without a word.
   */
  settings?: ShareGroupSettings;
  /** Wait after a failed acquire (network, unknown topic). Default 500 ms. */
  retryBackoffMs?: number;
  /**
   * run() only: while a handler is still running, extend its job's lock (by the group's
   * visibility timeout) each time half of the lock is left, as BullMQ renews its locks, so a
   * long job is not handed to a second worker while the first is alive and working. The
   * lock then only catches dead or disconnected workers. Default true; with false a job
   * outliving visibilityTimeoutMs is delivered again (for-await users call job.extend()).
   */
  extendLocks?: boolean;
}

/** What run() hands a handler besides the job. */
export interface JobContext {
  /** Aborted when an admin cancels the job, or when close({ drain }) times out while it runs (see Job.signal). */
  readonly signal: AbortSignal;
}

export interface QueueCloseOptions {
  /**
   * Graceful drain: stop taking jobs, give back the unstarted ones at once, and wait (up to
   * `timeoutMs`) for the jobs handed out to be settled before leaving. Default false: leave
   * at once (jobs still held are released by the broker as failed attempts).
   */
  drain?: boolean;
  /**
   * Drain only: the longest wait for running jobs. Default 30 000 ms. Jobs still running then
   * have their `signal` aborted and are released by the leave as failed attempts.
   */
  timeoutMs?: number;
}

/** Default of QueueCloseOptions.timeoutMs. */
const DRAIN_TIMEOUT_MS = 30_000;

/** Extensions at most this often per job, however short the lock. */
const MIN_EXTEND_GAP_MS = 50;

/** A connection and what goes with it, shared by the workers of one group (`shareConnectionWith`). */
interface SharedLink {
  pool: BrokerPool;
  route: CoordinatorRoute;
  acks: ShareAckBatcher;
  /** Workers using it and not yet closed: the last one closes the pool. */
  users: number;
}

export class QueueConsumer implements JobSettler, AsyncIterable<Job> {
  /** The home connection (the first live bootstrap broker); share requests go through `route`. */
  readonly conn: Connection;
  private readonly pool: BrokerPool;
  private readonly link: SharedLink;
  /** Where the group's requests go: its coordinator (home until a broker says NOT_COORDINATOR). */
  private readonly route: CoordinatorRoute;
  readonly groupId: string;
  readonly workerId: string;
  readonly topics: string[];
  private readonly concurrency: number;
  private readonly maxMessages: number;
  /** Jobs handed to the application so far (for maxMessages). */
  private handedOut = 0;
  private readonly maxWaitMs: number;
  private readonly retryBackoffMs: number;
  private readonly extendLocks: boolean;
  /**
   * The settings fields of this worker's acquires: with `checkSettings` until an acquire or
   * heartbeat was answered (the join, which the broker checks against an existing group's
   * settings), then without, so a group altered under the running worker never refuses it.
   * Still sent afterwards: a group deleted meanwhile is created again with them.
   */
  private settingsFields: { settings?: ShareGroupSettings; checkSettings?: true };
  private readonly log: Logger;

  /**
   * Jobs acquired and not yet handed out. Each knows the holder token it was acquired under
   * (HeldJob.holder: ShareAcquire's `holder`, the coordinator instance and this worker's
   * handle there; ShareService.holderOf). Its lock is this worker's as long as the
   * coordinator still answers with that token.
   */
  private readonly buffer: HeldJob[] = [];
  /**
   * The holder token of the latest acquire answer sent after the last coordinator error
   * (`route.moves` was `heldAt` when it was sent and still is). While `heldAt` lags
   * `route.moves` (an error since: a move, a reload, or a mere refusal), buffered jobs are
   * held back until an answer tells which (see heard()).
   */
  private holder: string | undefined;
  private heldAt = -1;
  /** Slots asked for by the acquires out (acquireLoop). */
  private asking = 0;
  /** No acquire before this (Date.now()): the last one failed. */
  private retryAt = 0;
  /** The last partition error of an acquire answer logged (each said once in a row). */
  private warned = '';
  private outstanding = 0;
  private closing = false;
  /**
   * Jobs still running when close({ drain })'s timeout ran out (released as failed attempts
   * by the leave); 0 when the drain finished them all or none ran.
   */
  drainLeftRunning = 0;
  /**
   * Acks answered for jobs acquired before the coordinator last moved, and for recent ones
   * (record key -> that count when its answer came):
   * an acquire sent before an ack's answer may come back holding the record that ack just
   * settled (across a coordinator move, this worker's ack of its first delivery settles the
   * new coordinator's acquisition of it, and the acquire's answer can arrive after the
   * ack's). Such a copy is not handed out (see acquireLoop).
   */
  private acksAnswered = 0;
  private readonly recentAcks = new Map<string, number>();
  /** close({ drain }) began: no more acquires or hand-outs; running jobs are being waited for. */
  private draining = false;
  /** Jobs handed out and not yet settled (a cancel push looks them up here). */
  private readonly active = new JobSet('activeAt');
  /** run()'s handlers still running, or their settles not yet answered (a drain waits for them). */
  private running = 0;
  /** Wakes run() waiting for its last handlers once `running` is 0. */
  private runEnd: (() => void) | null = null;
  /** Wakes a drain waiting for the handed-out jobs. */
  private drainWake: (() => void) | null = null;
  private closed: Promise<void> | undefined;
  private failure: Error | null = null;
  private loop: Promise<void> | undefined;
  /** acquireLoop is running (launch() may send). */
  private looping = false;
  /** The acquires out (launch()). */
  private readonly acquiresOut = new Set<Promise<void>>();
  /** The non-retriable error an acquire failed with: it ends the loop. */
  private fatal: Error | undefined;
  /** Stops this worker's hook on the ack batcher's turn. */
  private readonly unturn: () => void;
  private heartbeat: NodeJS.Timeout | undefined;
  /** A heartbeat is out (beat()). */
  private beating = false;
  /** Wakes the acquire loop (a slot freed) and the iterator (jobs arrived). */
  private loopWake: (() => void) | null = null;
  private jobWake: (() => void) | null = null;
  private readonly inFlightSettles = new Set<Promise<unknown>>();
  /** Running handlers' jobs (run() with extendLocks); each one's HeldJob.extendAt says when its lock is next extended. */
  private readonly extending = new JobSet('extendingAt');
  /** Stops this worker's cancel-push listener (the route may outlive it when shared). */
  private readonly unlisten: () => void;
  private extendTimer: NodeJS.Timeout | undefined;
  private extendTimerAt = Infinity;
  /** The lock timer (checkLocks), armed at the earliest lock deadline of a job held. */
  private lockCheck: NodeJS.Timeout | undefined;
  private lockCheckAt = Infinity;

  constructor(opts: QueueConsumerOptions) {
    if (typeof opts?.groupId !== 'string' || opts.groupId === '') throw new InvalidArgumentError('groupId is required');
    const topics = typeof opts.topics === 'string' ? [opts.topics] : opts.topics;
    if (!Array.isArray(topics) || topics.length === 0 || topics.some((t) => typeof t !== 'string' || t === '')) {
      throw new InvalidArgumentError('topics must be a topic name or a non-empty list of names');
    }
    this.concurrency = opts.concurrency ?? 10;
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1) throw new InvalidArgumentError(`concurrency must be an integer >= 1, got ${opts.concurrency}`);
    this.maxMessages = opts.maxMessages ?? Infinity;
    if (this.maxMessages !== Infinity && (!Number.isInteger(this.maxMessages) || this.maxMessages < 1)) {
      throw new InvalidArgumentError(`maxMessages must be an integer >= 1, got ${opts.maxMessages}`);
    }
    this.groupId = opts.groupId;
    this.topics = topics;
    this.workerId = opts.workerId ?? randomUUID();
    this.maxWaitMs = opts.maxWaitMs ?? 5000;
    this.retryBackoffMs = opts.retryBackoffMs ?? 500;
    this.extendLocks = opts.extendLocks ?? true;
    this.settingsFields = opts.settings ? { settings: opts.settings, checkSettings: true } : {};
    this.log = clientLogger(opts);
    const other = opts.shareConnectionWith;
    if (other !== undefined && (!(other instanceof QueueConsumer) || other.groupId !== this.groupId || other.closed)) {
      throw new InvalidArgumentError('shareConnectionWith must be an open QueueConsumer of the same group');
    }
    this.link = other?.link ?? this.newLink(opts);
    this.link.users++;
    this.pool = this.link.pool;
    this.conn = this.pool.home;
    this.route = this.link.route;
    this.unlisten = this.route.onPush((msg) => {
      if (msg.push === 'share-cancel' && msg.groupId === this.groupId && msg.workerId === this.workerId) this.cancelled(msg);
    });
    this.unturn = this.link.acks.onTurn(() => { this.launch(); });
    const hb = opts.heartbeatIntervalMs ?? 3000;
    this.heartbeat = setInterval(() => this.beat(), hb);
    this.heartbeat.unref();
  }

  /** Jobs as they come; ends when the consumer is closed. Throws a non-retriable acquire error. */
  [Symbol.asyncIterator](): AsyncIterator<Job> {
    const done: IteratorResult<Job> = { value: undefined, done: true };
    return {
      next: async (): Promise<IteratorResult<Job>> => {
        this.start();
        for (;;) {
          const job = this.take();
          if (job === null) return done;
          if (job) return { value: job, done: false };
          await this.jobsArrive();
        }
      },
      // `break`, `return` or a throw out of `for await` ends this worker, as it ends a Consumer:
      // no more acquires, and the prefetched jobs the loop never got go back unstarted
      // (close()), so another worker gets them at once with no delivery counted.
      return: async () => {
        await this.close();
        return done;
      },
    };
  }

  /**
   * Runs `handler` for every job, up to `concurrency` at once: acked when it resolves
   * (unless it settled the job itself), released with the error as reason when it throws.
   * Locks of running handlers are extended (see `extendLocks`). Resolves when the consumer
   * is closed, or once `maxMessages` jobs were handed out and their handlers finished.
   */
  async run(handler: (job: Job, ctx: JobContext) => Promise<void> | void): Promise<void> {
    // Not `for await (const job of this)`, and no async function per job: a promise for every
    // job handed out, one per handler wrapped, its catch and finally were most of the
    // workers' allocation per job (docs/queue-performance.md, "The workers' side"). Jobs
    // buffered are handed out in one go; a job costs the handler's own promise, one then()
    // and its two callbacks; its ack goes to the batcher with one callback for all jobs.
    this.start();
    for (;;) {
      const job = this.take();
      if (job === null) break;
      if (job === undefined) await this.jobsArrive();
      else this.runJob(handler, job);
    }
    while (this.running > 0) await new Promise<void>((r) => { this.runEnd = r; });
  }

  /** run(): one handler call; `running` counts it until its settle is answered. */
  private runJob(handler: (job: Job, ctx: JobContext) => Promise<void> | void, job: HeldJob): void {
    this.running++;
    if (this.extendLocks) this.keepLocked(job);
    let r: Promise<void> | void;
    try {
      // The job is its own context: `signal` is its getter (JobContext asks for nothing else).
      r = handler(job, job);
    } catch (err) {
      this.handlerFailed(job, err);
      return;
    }
    if (r !== undefined && r !== null && typeof (r as PromiseLike<void>).then === 'function') {
      (r as PromiseLike<void>).then(() => this.handlerDone(job), (err: unknown) => this.handlerFailed(job, err));
    } else this.handlerDone(job);
  }

  /** run(): the handler of `job` returned: ack it unless it settled the job itself, an admin cancelled it or a drain abandoned it. */
  private handlerDone(job: HeldJob): void {
    this.extending.delete(job);
    if (job.settled || job.cancelled || job.abandoned) return this.ran();
    job.settled = true;
    this.freeSlot(job);
    // What the ack's answer needs of the job, not the job: an ack carried by an acquire is
    // answered with the worker's next request, about a cycle later, and a job kept that long
    // (with its value, a view of the whole acquire answer) outlived a scavenge and was
    // promoted (~300 bytes per job, docs/queue-performance.md step 12).
    this.link.acks.ackThen(this.workerId, { topic: job.topic, partition: job.partition, offset: job.offset, holder: job.holder }, this.ranAcked);
  }

  /** run(): an ack of handlerDone answered. */
  private readonly ranAcked = (job: AckedRecord, err?: Error): void => {
    if (err) this.jobWarn(job, err);
    else this.acked(job);
    this.ran();
  };

  /** run(): the handler of `job` threw: released with the error as reason, unless settled or cancelled. */
  private handlerFailed(job: HeldJob, err: unknown): void {
    this.extending.delete(job);
    // Cancelled (the broker settled it) or abandoned (the drain timed out: the leave
    // releases it): the handler's abort is the expected end, and the job is not ours to settle.
    if ((job.cancelled || job.abandoned) && !job.settled) return this.ran();
    if (job.settled) {
      this.jobWarn(job, err);
      return this.ran();
    }
    job.release({ reason: (err as Error)?.message ?? String(err) }).then(() => this.ran(), (e: unknown) => {
      this.jobWarn(job, e);
      this.ran();
    });
  }

  private jobWarn(job: AckedRecord, err: unknown): void {
    this.log.warn({ groupId: this.groupId, topic: job.topic, partition: job.partition, offset: job.offset }, `job ${job.topic}/${job.partition}@${job.offset}: ${errorText(err)}`);
  }

  /** run(): a handler and its settle are over. */
  private ran(): void {
    this.running--;
    this.wakeDrain();
    if (this.running === 0 && this.runEnd) {
      const w = this.runEnd;
      this.runEnd = null;
      w();
    }
  }

  /**
   * The next job to hand out (the iterator's and run()'s), undefined when there is none yet
   * (jobsArrive()), null when no more will come (closing, draining, maxMessages handed out).
   * Throws the error that ended the acquire loop.
   */
  private take(): HeldJob | undefined | null {
    for (;;) {
      if (this.failure) throw this.failure;
      if (this.closing || this.draining || this.handedOut >= this.maxMessages) return null;
      if (this.buffer.length > 0 && this.heldAt !== this.route.moves) {
        // A coordinator error since the last answer: whether these jobs' locks survived is
        // told by the next answer's holder token; a heartbeat asks at once.
        this.beat();
        return undefined;
      }
      const job = this.buffer.shift();
      if (job === undefined) return undefined;
      // The acquire loop holds off while more than half the slots are buffered (acquireLoop)
      // and sleeps until woken: a job taken is no slot freed, so a worker holding the jobs it
      // took (a batch settled together) would wait for a lock to run out. Woken at half.
      if (this.loopWake !== null && this.buffer.length * 2 <= this.concurrency) this.wakeLoop();
      if (job.holder !== this.holder) {
        // Acquired under another holder token (the coordinator moved or reloaded, or this
        // worker left and came back): its lock is gone, the record is available again, and
        // another worker may already have acked it. Not handed out; nothing to release.
        this.freeSlot(job);
        continue;
      }
      job.delivered = true;
      this.active.add(job);
      this.handedOut++;
      return job;
    }
  }

  /** Resolves when jobs arrived, the holder token was heard, or the consumer fails or closes (wakeJobs). */
  private jobsArrive(): Promise<void> {
    return new Promise<void>((r) => { this.jobWake = r; });
  }

  /** Held jobs (buffered + handed out, not settled). */
  get inFlight(): number {
    return this.outstanding;
  }

  /** Leaves the group and disconnects; `{ drain: true }` first lets the running jobs finish (see QueueCloseOptions). */
  close(opts: QueueCloseOptions = {}): Promise<void> {
    return (this.closed ??= this.shutdown(opts));
  }

  // --- JobSettler --------------------------------------------------------------------

  settleAck(job: Job): Promise<void> {
    this.freeSlot(job);
    return new Promise<void>((resolve, reject) => this.link.acks.ackThen(this.workerId, job as HeldJob, (j, err) => {
      if (err) return reject(err);
      this.acked(j);
      resolve();
    }, true));
  }

  settleRelease(job: Job, opts: ReleaseOptions): Promise<void> {
    this.freeSlot(job);
    // An unstarted give-back names the holder token the job came under: the coordinator
    // refuses it once that is not this worker's any more, so it cannot let go of the same
    // offset acquired again meanwhile (after a move: a count taken back that was not given).
    const token = opts.kind === 'unstarted' ? (job as HeldJob).holder : undefined;
    const holder = token !== undefined && !token.startsWith(NO_HOLDER) ? token : undefined;
    // Give-backs go through the connection's batcher (close and drain give back a whole
    // buffer at once, for every worker sharing the connection), each under its own token.
    if (opts.kind === 'unstarted' && opts.delayMs === undefined) return this.track(this.link.acks.giveBack(this.workerId, job, holder, opts.reason));
    return this.settleOne({
      topic: job.topic, partition: job.partition, offsets: [job.offset], type: 'release',
      ...(opts.delayMs !== undefined && { delayMs: opts.delayMs }), ...(opts.reason !== undefined && { reason: opts.reason }), ...(opts.kind && { kind: opts.kind }),
    }, holder).then(() => undefined);
  }

  settleReject(job: Job, reason: string | undefined): Promise<void> {
    this.freeSlot(job);
    return this.settleOne({ topic: job.topic, partition: job.partition, offsets: [job.offset], type: 'reject', ...(reason !== undefined && { reason }) }).then(() => undefined);
  }

  async settleProgress(job: Job, progress: string): Promise<number> {
    const res = await this.track(this.route.request(Api.ShareProgress, {
      groupId: this.groupId, workerId: this.workerId, topic: job.topic, partition: job.partition, offset: job.offset, progress,
    }));
    return res.lockDeadline;
  }

  async settleExtend(job: Job, ms: number | undefined): Promise<number> {
    const r = await this.settleOne({ topic: job.topic, partition: job.partition, offsets: [job.offset], type: 'extend', ...(ms !== undefined && { extendMs: ms }) });
    return r.lockDeadline ?? job.lockDeadline;
  }

  // --- internals ---------------------------------------------------------------------

  /**
   * Extends `job`'s lock whenever half of what is left has passed, until its handler returns
   * (taken out of `extending`) or the job is settled. Deadlines are broker time, compared with this
   * machine's clock (as the prefetch expiry check does), so skew eats into the margin.
   *
   * One timer per worker, armed at the earliest extension due, not one per job: most jobs
   * end long before half their lock, and a setTimeout per job was most of the workers'
   * per-job timer work (docs/queue-performance.md, step 4).
   */
  private keepLocked(job: HeldJob): void {
    const at = this.nextExtension(job);
    job.extendAt = at;
    this.extending.add(job);
    // The timer is never later than the earliest extension due, so only this one can move it
    // earlier: no scan of every running job's (one per job started, docs/queue-performance.md).
    this.armExtensionAt(at);
  }

  private nextExtension(job: Job): number {
    const now = Date.now();
    return now + Math.max(MIN_EXTEND_GAP_MS, (job.lockDeadline - now) / 2);
  }

  private armExtensions(): void {
    let next = Infinity;
    for (const job of this.extending.toArray()) if (job.extendAt < next) next = job.extendAt;
    this.armExtensionAt(next);
  }

  private armExtensionAt(next: number): void {
    if (next === Infinity || next >= this.extendTimerAt) return;
    clearTimeout(this.extendTimer);
    this.extendTimerAt = next;
    this.extendTimer = setTimeout(() => this.extendDue(), Math.max(0, next - Date.now()));
  }

  /** Extends every running job whose extension is due; each is looked at again once its extend answers. */
  private extendDue(): void {
    this.extendTimer = undefined;
    this.extendTimerAt = Infinity;
    const now = Date.now();
    for (const job of this.extending.toArray()) {
      if (job.settled || job.cancelled || this.closing) {
        this.extending.delete(job);
        continue;
      }
      if (job.extendAt > now) continue;
      job.extendAt = Infinity; // in flight
      job.extend().then(() => {
        if (!this.extending.has(job) || job.settled || this.closing) return;
        job.extendAt = this.nextExtension(job);
        this.armExtensions();
      }, (err: Error) => {
        // Settled meanwhile: the extend raced the ack, nothing lost.
        if (!job.settled && this.extending.delete(job)) this.log.warn({ groupId: this.groupId, topic: job.topic, partition: job.partition, offset: job.offset }, `job ${job.topic}/${job.partition}@${job.offset}: could not extend its lock: ${err.message}`);
      });
    }
    this.armExtensions();
  }

  private start(): void {
    if (!this.loop && !this.closing) this.loop = this.acquireLoop().catch((err: Error) => this.fail(err));
  }

  private fail(err: Error): void {
    this.failure = err;
    this.wakeJobs();
  }

  /**
   * An ack settles the record whichever of this worker's acquisitions it was sent for: after
   * a coordinator move (the new one rebuilds the state from the log: acquired records are
   * available again) the same worker may acquire the record again while its first delivery
   * is still being worked, and that delivery's ack then settles the second. The copy still
   * buffered is dropped, so the application is not handed a job it already acknowledged.
   */
  /** An ack of `job` was answered: drop buffered copies of its record, and remember it for acquires in flight. */
  private acked(job: AckedRecord): void {
    this.dropStale(job);
    // Only a job whose lock may be gone (acquired under another holder token, or one not
    // confirmed since a coordinator error) can be acquired again by this worker while it runs;
    // remembering only those keeps this off the path of every ack.
    if (this.current(job)) return;
    const key = recordKey(job);
    this.recentAcks.delete(key);
    this.recentAcks.set(key, ++this.acksAnswered);
    // Only acquires in flight can need it; a few thousand cover far more than one round trip.
    if (this.recentAcks.size > RECENT_ACKS) this.recentAcks.delete(this.recentAcks.keys().next().value!);
  }

  private dropStale(acked: AckedRecord): void {
    // A loop of its own, not dropBuffered with a predicate: this runs for every ack, and the
    // predicate was a closure per ack.
    for (let i = this.buffer.length - 1; i >= 0; i--) {
      const j = this.buffer[i]!;
      if (j === acked || j.offset !== acked.offset || j.partition !== acked.partition || j.topic !== acked.topic) continue;
      this.buffer.splice(i, 1);
      this.freeSlot(j);
    }
  }

  /** Takes the buffered jobs `which` picks out of the buffer (never handed out), freeing their slots. */
  private dropBuffered(which: (j: HeldJob) => boolean, each?: (j: HeldJob) => void): void {
    for (let i = this.buffer.length - 1; i >= 0; i--) {
      const j = this.buffer[i]!;
      if (!which(j)) continue;
      this.buffer.splice(i, 1);
      each?.(j);
      this.freeSlot(j);
    }
  }

  private freeSlot(job: Job): void {
    if (!job.holdsSlot) return;
    job.holdsSlot = false;
    this.outstanding--;
    this.active.delete(job as HeldJob);
    if (this.drainWake) this.wakeDrain();
    this.wakeLoop();
  }

  private wakeDrain(): void {
    const w = this.drainWake;
    this.drainWake = null;
    w?.();
  }

  /**
   * The broker's cancel push: the jobs it names are settled there. A buffered one is dropped;
   * a handed-out one gets its signal aborted. Either way its slot is free (the broker no
   * longer counts it against this worker).
   */
  private cancelled(msg: Record<string, unknown>): void {
    const { topic, partition, offsets } = msg;
    if (typeof topic !== 'string' || typeof partition !== 'number' || !Array.isArray(offsets)) return;
    const wanted = new Set(offsets as unknown[]);
    const hit = (j: Job) => j.topic === topic && j.partition === partition && wanted.has(j.offset);
    this.dropBuffered(hit, (j) => j.markCancelled());
    for (const j of this.active.toArray()) {
      if (!hit(j)) continue;
      j.markCancelled();
      this.freeSlot(j);
      this.log.info({ groupId: this.groupId, topic, partition, offset: j.offset }, `job ${topic}/${partition}@${j.offset} was cancelled`);
    }
  }

  private wakeJobs(): void {
    const w = this.jobWake;
    this.jobWake = null;
    w?.();
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inFlightSettles.add(p);
    const untrack = () => { this.inFlightSettles.delete(p); };
    p.then(untrack, untrack);
    return p;
  }

  private async settleOne(entry: ShareAckEntry, holder?: string): Promise<{ lockDeadline?: number }> {
    const res = await this.track(this.route.request(Api.ShareAck, { groupId: this.groupId, workerId: this.workerId, entries: [entry], ...(holder !== undefined && { holder }) }));
    const r = res.results[0];
    if (r?.error) throw fromWireError(r.error);
    return r ?? {};
  }

  /** An acquire was answered: the broker accepted this worker's settings (or created the group with them); they are not checked again. */
  private joined(): void {
    if (this.settingsFields.checkSettings) this.settingsFields = { settings: this.settingsFields.settings! };
  }

  /** A heartbeat (one at a time); its answer's holder token also tells whether buffered jobs survived a coordinator error (heard()). */
  private beat(): void {
    if (this.closing || !this.loop || this.beating) return;
    this.beating = true;
    const sentAt = this.route.moves;
    this.route.request(Api.ShareAcquire, { groupId: this.groupId, workerId: this.workerId, topics: this.topics, maxRecords: 0, maxWaitMs: 0, ...this.settingsFields })
      .then((res) => {
        this.joined();
        this.link.acks.told(res.acked);
        this.heard(holderIn(res, this.route.moves), sentAt);
      }, () => undefined) // the acquire loop reports connection trouble
      .finally(() => {
        this.beating = false;
        // Another coordinator error while it was out: the iterator still waits to know.
        if (this.jobWake && this.buffer.length > 0 && this.heldAt !== this.route.moves) setTimeout(() => this.beat(), this.retryBackoffMs).unref();
      });
  }

  /** Whether `job`'s lock is this worker's as far as it knows: acquired under the holder token confirmed since the last coordinator error. */
  private current(job: AckedRecord): boolean {
    return this.heldAt === this.route.moves && job.holder === this.holder;
  }

  /**
   * An acquire (or heartbeat) answer with holder token `holder`, sent when `route.moves` was
   * `sentAt`. Only an answer to a request sent after the last coordinator error tells how
   * things are now: then the buffered jobs of another token are dropped (their locks are gone)
   * and those of this token are kept, to be handed out (their locks survived: the error was a
   * refusal, not a move, docs/queue.md). An answer to a request sent before an error says nothing.
   * With two acquires out the last answer wins, as between an acquire and a heartbeat: a
   * token is the coordinator's state when the answer left, and one coordinator's answers
   * on a connection arrive in the order they left.
   */
  private heard(holder: string, sentAt: number): void {
    if (sentAt !== this.route.moves) return;
    const confirming = this.heldAt !== sentAt;
    if (!confirming && holder === this.holder) return;
    if (holder !== this.holder) this.dropBuffered((j) => j.holder !== holder);
    this.holder = holder;
    this.heldAt = sentAt;
    if (confirming && this.buffer.length > 0) this.wakeJobs();
  }

  /**
   * Keeps acquires out for the free slots: up to ACQUIRES_IN_FLIGHT at once, each asking for
   * the slots free when it leaves and not asked for by the other. So slots freed while an
   * acquire is out (parked at the broker, or on its way back) are asked for at once instead
   * of after its answer, and a worker whose handlers end one by one does not wait a round
   * trip empty-handed (docs/queue-performance.md, step 7). Never more asked for than free.
   */
  private async acquireLoop(): Promise<void> {
    this.looping = true;
    try {
      while (!this.closing && !this.draining && this.fatal === undefined) {
        if (this.launch()) continue;
        // Woken by the first slot freed (or an acquire's end). The handlers of one acquisition
        // usually settle in the same tick; asking now would ask for that one slot and leave
        // the rest for the acquire after it (every other acquire took 1-8 records,
        // docs/queue-performance.md "Step 5"). Counting the slots once the tick's settles
        // have run asks for them all. The ack batcher's turn, when it has settles to send,
        // comes first and asks then (launch() from its onTurn hook), so they ride on the acquire.
        const backoff = this.retryAt - Date.now();
        await this.waitLoop(backoff > 0 ? backoff : undefined);
        await new Promise<void>((r) => setImmediate(r));
      }
    } finally {
      this.looping = false;
      await Promise.all(this.acquiresOut);
    }
    if (this.fatal) throw this.fatal;
  }

  /**
   * Sends an acquire for the free slots when one is due (acquireLoop, and the ack batcher's
   * turn); returns whether it did. Synchronous up to the send, so an acquire sent from the
   * batcher's turn carries the settles pending then (acquireOnce, ShareAckBatcher.carry).
   */
  private launch(): boolean {
    if (!this.looping || this.closing || this.draining || this.fatal !== undefined) return false;
    // Never ask for more than may still be handed out: what is buffered or asked for is already spoken for.
    const want = Math.min(this.concurrency - this.outstanding - this.asking, this.maxMessages - this.handedOut - this.buffer.length - this.asking);
    // While more than half the slots hold buffered jobs the application has not taken yet,
    // they keep it busy: no acquire for the few slots freed meanwhile. A for-await loop that
    // handles one job at a time frees one slot per job, and asking at each sent one
    // ShareAcquire per job (4,956 for 5,000 jobs, ~120 jobs/s at load 32,
    // docs/queue-performance.md "The workers' side"); now it asks once half are free. run()
    // hands every buffered job out at once, so its buffer is empty here and it asks at
    // every freed slot as before.
    if (!(want > 0 && this.acquiresOut.size < ACQUIRES_IN_FLIGHT && this.retryAt <= Date.now() && this.buffer.length * 2 <= this.concurrency)) return false;
    this.asking += want;
    const p: Promise<void> = this.acquireOnce(want).then(
      (retry) => { if (retry) this.retryAt = Date.now() + this.retryBackoffMs; },
      (err: Error) => { this.fatal = err; },
    ).finally(() => {
      this.asking -= want;
      this.acquiresOut.delete(p);
      this.wakeLoop();
    });
    this.acquiresOut.add(p);
    return true;
  }

  /**
   * One acquire of up to `want` records: its jobs go to the buffer. Resolves true when the
   * next acquire should wait retryBackoffMs (a failed request, or only errors in the answer);
   * throws a non-retriable error.
   */
  private async acquireOnce(want: number): Promise<boolean> {
    let res: ShareAcquireResponse;
    const acksBefore = this.acksAnswered;
    const sentAt = this.route.moves;
    // The settles pending on the connection ride on this acquire (share-ack-batcher.ts):
    // one request per cycle instead of an acquire and a ShareAck.
    const acks = this.link.acks;
    const carried = acks.carry();
    try {
      res = await this.route.request(Api.ShareAcquire, {
        // Buffered jobs waiting for a holder token since a coordinator error: no long poll,
        // so the answer (heard()) comes at once.
        groupId: this.groupId, workerId: this.workerId, topics: this.topics, maxRecords: want,
        maxWaitMs: this.buffer.length > 0 && this.heldAt !== sentAt ? 0 : this.maxWaitMs, ...this.settingsFields,
        ...(carried && { acks: carried.body }),
      }, this.conn.requestTimeoutMs + this.maxWaitMs, carried && ((conn) => acks.sentOn(carried, conn)));
      this.joined();
      acks.told(res.acked);
      if (carried) acks.answered(carried, res.acksTaken === true);
    } catch (err) {
      if (carried) acks.failed(carried, err as Error);
      if (this.closing) return false;
      // Refused at a join check that went out with another request this worker's join already
      // passed (an admin altered the group in between): the worker is in; ask again unchecked.
      if (err instanceof SluiceError && err.code === 'INCONSISTENT_GROUP_PROTOCOL' && !this.settingsFields.checkSettings) return true;
      if (err instanceof SluiceError && !err.retriable && err.code !== 'CLIENT_CLOSED') throw err;
      return true;
    }
    const jobs: HeldJob[] = [];
    let problem = '';
    for (const p of res.partitions) {
      if (p.error) {
        problem = `${p.topic}: ${fromWireError(p.error).message}`;
        continue;
      }
      this.toJobs(p.topic, p.partition, p.records as Buffer, p.acquired, p.lockDeadline, jobs);
    }
    if (problem && problem !== this.warned) this.log.warn({ groupId: this.groupId }, `acquire: ${problem}`);
    this.warned = problem;
    const holder = holderIn(res, this.route.moves);
    this.heard(holder, sentAt);
    for (const j of jobs) j.holder = holder;
    if (this.closing || this.draining) {
      // Acquired while closing or draining: give them straight back, unstarted.
      this.outstanding += jobs.length;
      this.giveBackAll(jobs);
      return false;
    }
    if (this.acksAnswered !== acksBefore) {
      // A record this worker's ack settled after this acquire was sent: the broker may have
      // handed it out before applying that ack, which then settled this very acquisition.
      for (let i = jobs.length - 1; i >= 0; i--) {
        if ((this.recentAcks.get(recordKey(jobs[i]!)) ?? 0) > acksBefore) jobs.splice(i, 1);
      }
    }
    if (jobs.length) {
      this.outstanding += jobs.length;
      this.buffer.push(...jobs);
      this.watchLocks(jobs);
      this.wakeJobs();
      return false;
    }
    return problem !== '';
  }

  /**
   * Frees the slots of held jobs whose lock ran out (the application was too slow and did not
   * extend): the record is back in the queue, so a buffered one is dropped and never handed
   * out. One timer per worker, armed at the earliest deadline of a job held, not a timer per
   * acquisition: that one's closure held every job of the acquisition until its lock
   * deadline (the group's visibility timeout, 30 s by default) however soon they were acked,
   * so every acked job lived long enough to be promoted to the old generation (~290 bytes
   * per job, test/client/queue-consumer-heap.test.ts). Deadlines are broker time compared
   * with local time: fine on one host or with synced clocks; skew only shifts when the slot
   * frees.
   */
  private watchLocks(jobs: HeldJob[]): void {
    this.armLockCheck(jobs[0]!.lockDeadline); // one acquire, one deadline
  }

  private armLockCheck(at: number): void {
    if (at >= this.lockCheckAt) return;
    clearTimeout(this.lockCheck);
    this.lockCheckAt = at;
    this.lockCheck = setTimeout(() => this.checkLocks(), Math.max(0, at - Date.now()) + 5);
    this.lockCheck.unref();
  }

  /** The lock timer: frees the held jobs whose lock ran out (buffered or handed out), then waits for the next deadline. */
  private checkLocks(): void {
    this.lockCheck = undefined;
    this.lockCheckAt = Infinity;
    if (this.closing) return;
    const now = Date.now();
    let next = Infinity;
    for (let i = this.buffer.length - 1; i >= 0; i--) {
      const j = this.buffer[i]!;
      if (j.lockDeadline > now) next = Math.min(next, j.lockDeadline);
      else {
        this.buffer.splice(i, 1);
        this.freeSlot(j);
      }
    }
    for (const j of this.active.toArray()) {
      if (j.lockDeadline > now) next = Math.min(next, j.lockDeadline);
      else this.freeSlot(j);
    }
    this.armLockCheck(next);
  }


  private toJobs(topic: string, partition: number, records: Buffer, ranges: { firstOffset: number; lastOffset: number; deliveryCount: number }[], deadline: number, out: HeldJob[]): void {
    if (ranges.length === 0) return;
    let r = 0;
    // Each record decoded straight into its job (no Message in between, copied and dropped).
    decodeMessages(Buffer.isBuffer(records) ? records : Buffer.from(records), topic, partition, ranges[0].firstOffset, out, (offset, timestamp, key, value, headers) => {
      while (r < ranges.length && ranges[r].lastOffset < offset) r++;
      if (r >= ranges.length || offset < ranges[r].firstOffset) return undefined; // past or between ranges: another worker's or settled
      return new HeldJob(this, topic, partition, offset, timestamp, key, value, headers, ranges[r].deliveryCount, deadline);
    });
  }

  /** Returns a job the application never saw: not a delivery attempt (the release carries its holder token, see settleRelease). */
  private giveBack(job: Job): void {
    this.track(job.release({ kind: 'unstarted', reason: 'worker closing' })).catch(() => undefined);
  }

  /**
   * Gives back the `jobs` whose lock is still this worker's (current()); the others are only
   * dropped: their record may be this worker's again under a new acquisition, which a release
   * by offset would let go. Returns how many were given back.
   */
  private giveBackAll(jobs: readonly HeldJob[]): number {
    let n = 0;
    for (const j of jobs) {
      if (this.current(j)) {
        this.giveBack(j);
        n++;
      } else this.freeSlot(j);
    }
    return n;
  }

  /** Waits for wakeLoop() (a slot freed, an acquire ended, closing), or `ms` when given. */
  private waitLoop(ms?: number): Promise<void> {
    return new Promise<void>((r) => {
      const t = ms === undefined ? undefined : setTimeout(() => { this.loopWake = null; r(); }, ms);
      this.loopWake = () => { clearTimeout(t); r(); };
    });
  }

  private wakeLoop(): void {
    const w = this.loopWake;
    this.loopWake = null;
    w?.();
  }

  /**
   * close({ drain }): stop acquiring and handing out, give back the prefetch at once, then
   * wait up to `timeoutMs` for every handed-out job to be settled (and run()'s handlers to
   * end). Returns how many jobs were given back.
   */
  private async drain(timeoutMs: number): Promise<number> {
    this.draining = true;
    const unstarted = this.stopTaking();
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const deadline = new Promise<void>((r) => { timer = setTimeout(() => { timedOut = true; r(); }, timeoutMs); });
    while (!timedOut && (this.active.size > 0 || this.running > 0)) {
      await Promise.race([new Promise<void>((r) => { this.drainWake = r; }), deadline]);
    }
    clearTimeout(timer);
    if (this.active.size > 0) {
      this.drainLeftRunning = this.active.size;
      this.log.warn({ groupId: this.groupId }, `drain: ${this.active.size} job(s) still running after ${timeoutMs} ms; leaving releases them as failed attempts`);
      // The leave hands them back to the group, where another worker may take them: tell the
      // handlers to stop (their signal) rather than let them finish a job that is no longer
      // theirs, and keep run() from acking one after the leave (and from waiting on it forever
      // when its handler honours the signal).
      for (const j of this.active.toArray()) {
        j.markAbandoned(new SluiceError('CLIENT_CLOSED', `job ${j.topic}/${j.partition}@${j.offset}: the worker's drain timed out after ${timeoutMs} ms; it is released to the group as a failed attempt`));
      }
    }
    return unstarted;
  }

  /** Wakes the iterator and the acquire loop (to see the closing or draining flag) and gives back the prefetch; returns how many. */
  private stopTaking(): number {
    this.wakeJobs();
    this.wakeLoop();
    return this.giveBackAll(this.buffer.splice(0));
  }

  private async shutdown(opts: QueueCloseOptions): Promise<void> {
    const drained = opts.drain ? await this.drain(opts.timeoutMs ?? DRAIN_TIMEOUT_MS) : 0;
    this.closing = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.extendTimer);
    clearTimeout(this.lockCheck);
    const unstarted = this.stopTaking();
    await this.link.acks.idle();
    // An acquire of ours still parked at the broker is woken by these give-backs and takes
    // them again; leaving before its answer arrives would release them as failed attempts
    // though no handler saw them. So when something was given back, let it end (at once when
    // it took records, else within maxWaitMs) and give back what it brought, then leave.
    // With nothing given back there is nothing to wake it: leave at once (a record appended in
    // the instant before the leave could still be taken and count one attempt).
    if (unstarted + drained > 0 && this.conn.connected) await this.loop?.catch(() => undefined);
    await Promise.allSettled([...this.inFlightSettles]);
    if (this.loop && this.conn.connected) {
      await this.route.request(Api.ShareLeave, { groupId: this.groupId, workerId: this.workerId }, 5000)
        .catch((err: Error) => this.log.warn({ groupId: this.groupId }, `leave failed: ${err.message}`));
    }
    this.unlisten();
    this.unturn();
    if (--this.link.users === 0) await this.pool.close();
    await this.loop?.catch(() => undefined);
  }

  private newLink(opts: QueueConsumerOptions): SharedLink {
    const pool = new BrokerPool(bootstrapUrls(opts), { ...opts, logger: this.log }, opts.connectionFactory);
    const route = new CoordinatorRoute(pool, this.groupId, { retryBackoffMs: this.retryBackoffMs, logger: this.log, keyType: 'share' });
    const acks = new ShareAckBatcher(this.groupId, (body) => route.request(Api.ShareAck, body), pool.home.requestTimeoutMs);
    // The results of settles carried by acquires come as pushes on the coordinator's connection.
    route.onPush((msg) => acks.pushed(msg));
    route.onLost((conn, err) => acks.lost(conn, err));
    return { pool, route, acks, users: 0 };
  }
}

export { Job, JobSettledError, type ReleaseOptions } from './queue-job.js';

/** A settled job as far as its ack's answer needs it (a HeldJob is one). */
interface AckedRecord { readonly topic: string; readonly partition: number; readonly offset: number; readonly holder: string }

/** Acquires a worker keeps out at once (acquireLoop). */
const ACQUIRES_IN_FLIGHT = 2;

/** Acks remembered for acquires in flight (QueueConsumer.acked). */
const RECENT_ACKS = 4096;

/** Prefix of the token standing in for a broker's holder token when it sends none (holderIn). */
const NO_HOLDER = '\u0000';

/**
 * The holder token of an acquire answer that came when `route.moves` was `moves`. A broker
 * from before holder tokens sends none: then every coordinator error counts as a move (a token
 * per `route.moves`), as it did before.
 */
function holderIn(res: ShareAcquireResponse, moves: number): string {
  return res.holder ?? `${NO_HOLDER}${moves}`;
}

function recordKey(j: { topic: string; partition: number; offset: number }): string {
  return `${j.topic}\u0000${j.partition}\u0000${j.offset}`;
}
