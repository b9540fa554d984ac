/**
 * One record handed to a queue worker (QueueConsumer). It is locked to this worker until
 * `lockDeadline` (broker clock); settle it exactly once with ack, release or reject. A
 * settle call that arrives after the lock expired fails with INVALID_RECORD_STATE: the
 * record went back to the queue and another worker may already have it (at-least-once).
 */
import { SluiceError } from '../errors.js';
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
}

export class Job implements Message {
  /** True once ack, release or reject was called (whatever the broker answered). */
  settled = false;
  /** Handed to the application (false while it waits in the prefetch buffer). */
  delivered = false;
  /** Counts against the consumer's concurrency (until settled or its lock expires). */
  holdsSlot = true;

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

  /** Done: the record is never delivered again. Resolves once the broker stored it durably. */
  async ack(): Promise<void> {
    this.markSettled('ack');
    return this.settler.settleAck(this);
  }

  /** Give it back: a failed attempt (redelivered after `delayMs` or the group's backoff), or `kind: 'unstarted'`. */
  async release(opts: ReleaseOptions = {}): Promise<void> {
    this.markSettled('release');
    return this.settler.settleRelease(this, opts);
  }

  /** Poison: straight to the dead-letter topic, never delivered again. */
  async reject(reason?: string): Promise<void> {
    this.markSettled('reject');
    return this.settler.settleReject(this, reason);
  }

  /** Keeps the lock for `ms` more (default: the group's visibility timeout); returns the new deadline. */
  async extend(ms?: number): Promise<number> {
    this.lockDeadline = await this.settler.settleExtend(this, ms);
    return this.lockDeadline;
  }

  private markSettled(how: string): void {
    if (this.settled) throw new JobSettledError(this, how);
    this.settled = true;
  }
}

/** ack/release/reject called on a job that was already settled: a bug in the worker, refused locally. */
export class JobSettledError extends SluiceError {
  constructor(job: Job, how: string) {
    super('INVALID_RECORD_STATE', `${how}: job ${job.topic}/${job.partition}@${job.offset} is already settled`);
  }
}
