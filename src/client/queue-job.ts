/**
 * One record handed to a queue worker (QueueConsumer). It is locked to this worker until
 * `lockDeadline` (broker clock); settle it exactly once with ack, release or reject. A
 * settle call that arrives after the lock expired fails with INVALID_RECORD_STATE: the
 * record went back to the queue and another worker may already have it (at-least-once).
 */
import { SluiceError } from '../errors.js';
import { InvalidArgumentError } from './errors.js';
import type { Message } from './types.js';

export interface ReleaseOptions {
  /** Available again after this long; default: the group's exponential backoff. 0 = now. */
  delayMs?: number;
  /** Kept as the last reason; ends up in the DLQ headers if the record dies. */
  reason?: string;
  /**
   * 'failed' (default): this attempt counts toward the group's maxDeliveries. 'unstarted':
   * the job was never begun (e.g. the worker is stopping), so the delivery is taken back and
   * the job is available again after `delayMs` (default 0), never dead-lettered for it.
   */
  kind?: 'failed' | 'unstarted';
}

/** What a job needs from its consumer: the settle requests. */
export interface JobSettler {
  settleAck(job: Job): Promise<void>;
  settleRelease(job: Job, opts: ReleaseOptions): Promise<void>;
  settleReject(job: Job, reason: string | undefined): Promise<void>;
  settleExtend(job: Job, ms: number | undefined): Promise<number>;
  /** Sends `progress` (JSON text) for the job; resolves with the extended lock deadline. */
  settleProgress(job: Job, progress: string): Promise<number>;
}

export class Job implements Message {
  /** True once ack, release or reject was called (whatever the broker answered). */
  settled = false;
  /** Handed to the application (false while it waits in the prefetch buffer). */
  delivered = false;
  /** Counts against the consumer's concurrency (until settled or its lock expires). */
  holdsSlot = true;
  /** An admin cancelled the job (the broker's push): it is settled at the broker; `signal` is aborted. */
  cancelled = false;
  /**
   * The worker let go of the job while it was still running: close({ drain }) timed out, and
   * the leave that follows releases it as a failed attempt (another worker may get it).
   * `signal` is aborted; run() neither acks nor releases it.
   */
  abandoned = false;
  /** Made on first use of `signal`, so a job whose handler never looks costs nothing. */
  private abort: AbortController | undefined;
  /** Why `signal` is (to be) aborted: set by a cancel or an abandon, whichever came first. */
  private abortReason: Error | undefined;

  constructor(
    private readonly settler: JobSettler,
    readonly topic: string,
    readonly partition: number,
    readonly offset: number,
    readonly timestamp: number,
    readonly key: Buffer | null,
    readonly value: Buffer | null,
    readonly headers: { key: string; value: Buffer | null }[],
    /** 1 on the first delivery; higher when an earlier attempt failed or its worker died. */
    readonly deliveryCount: number,
    /** ms since epoch (broker clock) when the lock ends unless extended. */
    public lockDeadline: number,
  ) {}

  // Not async methods: an async wrapper around the settler's promise was one more promise and
  // a thenable hand-off per job (docs/queue-performance.md, "The workers' side"). A second
  // settle still fails as a rejected promise, never a throw.

  /** Done: the record is never delivered again. Resolves once the broker stored it durably. */
  ack(): Promise<void> {
    return this.markSettled('ack') ?? this.settler.settleAck(this);
  }

  /** Give it back: a failed attempt (redelivered after `delayMs` or the group's backoff), or `kind: 'unstarted'`. */
  release(opts: ReleaseOptions = {}): Promise<void> {
    return this.markSettled('release') ?? this.settler.settleRelease(this, opts);
  }

  /**
   * Poison: to the dead-letter topic. Resolves once the broker durably holds the job for its
   * copy: it is never handed to a worker again, also when the coordinator restarts or moves
   * before the copy is written (the next one resumes the copy). The copy is written at least
   * once (docs/queue.md, "A record is archived only after its copy is written").
   */
  reject(reason?: string): Promise<void> {
    return this.markSettled('reject') ?? this.settler.settleReject(this, reason);
  }

  /**
   * Aborted when the job is no longer this worker's to finish: stop working on it.
   * - An admin cancelled it (`sluice queue cancel`, QueueAdmin.cancel): it is settled at the
   *   broker (archived as cancelled, never delivered again); acking it afterwards fails with
   *   INVALID_RECORD_STATE. The reason's code is INVALID_RECORD_STATE.
   * - close({ drain }) timed out while it ran: the leave releases it as a failed attempt, so
   *   another worker may be working on it soon. The reason's code is CLIENT_CLOSED.
   */
  get signal(): AbortSignal {
    this.abort ??= new AbortController();
    if (this.abortReason && !this.abort.signal.aborted) this.abort.abort(this.abortReason);
    return this.abort.signal;
  }

  /** The consumer got the broker's cancel for this job: abort its signal. */
  markCancelled(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.stop(cancelReason(this));
  }

  /** The consumer let go of the job while it ran (a drain that timed out): abort its signal with `reason`. */
  markAbandoned(reason: Error): void {
    if (this.abandoned || this.cancelled) return;
    this.abandoned = true;
    this.stop(reason);
  }

  private stop(reason: Error): void {
    this.abortReason ??= reason;
    this.abort?.abort(this.abortReason);
  }

  /**
   * Reports progress (a number or a small JSON value, shown by `sluice queue describe
   * --jobs`) and, as extend() does, keeps the lock for the group's visibility timeout: a
   * job that reports progress is alive. Its JSON text is bounded by the broker setting
   * maxJobProgressBytes (default 1024; INVALID_REQUEST beyond it). Returns the new deadline.
   */
  async progress(value: unknown): Promise<number> {
    let text: string | undefined;
    try {
      text = JSON.stringify(value);
    } catch (err) {
      throw new InvalidArgumentError(`progress must be a number or a JSON value: ${(err as Error).message}`);
    }
    if (text === undefined) throw new InvalidArgumentError(`progress must be a number or a JSON value, got ${typeof value}`);
    this.lockDeadline = await this.settler.settleProgress(this, text);
    return this.lockDeadline;
  }

  /** Keeps the lock for `ms` more (default: the group's visibility timeout); returns the new deadline. */
  async extend(ms?: number): Promise<number> {
    this.lockDeadline = await this.settler.settleExtend(this, ms);
    return this.lockDeadline;
  }

  /** Marks the job settled; a rejected promise (JobSettledError) when it already was. */
  private markSettled(how: string): Promise<never> | undefined {
    if (this.settled) return Promise.reject(new JobSettledError(this, how));
    this.settled = true;
    return undefined;
  }
}

function cancelReason(job: Job): Error {
  return new SluiceError('INVALID_RECORD_STATE', `job ${job.topic}/${job.partition}@${job.offset} was cancelled`);
}

/** ack/release/reject called on a job that was already settled: a bug in the worker, refused locally. */
export class JobSettledError extends SluiceError {
  constructor(job: Job, how: string) {
    super('INVALID_RECORD_STATE', `${how}: job ${job.topic}/${job.partition}@${job.offset} is already settled`);
  }
}
