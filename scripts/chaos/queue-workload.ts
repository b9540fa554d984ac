/**
 * Queue mode in the chaos run: a producer enqueues jobs (`j-<seq>`, acks=all, one at a time:
 * `enqueue` ops) on the jobs topic, and `workers` QueueConsumers of one share group take them
 * (`deliver`: an event per job handed out, with its delivery count) and settle each by the
 * plan its number gives (jobPlan): most are acked (`ack` ops), some fail their first attempt
 * (`release` with no delay, so they come back at a higher delivery count and are acked then),
 * and some are poison (`reject`: dead-lettered to `<topic>.dlq`). So failovers meet jobs in
 * every state: held, given back, being redelivered, on their way to the dead-letter topic.
 * After the producers stop, drain() lets the workers run until every enqueued job was settled
 * (acked or rejected), or until the only ones left are jobs whose settle ended indeterminate
 * (`info`: the answer was lost, say when the coordinator moved, so it may have been applied)
 * and the share group holds nothing any more. finalState() records that state (a
 * `queue-state` op) for the checker, which counts such a job as settled only when the group
 * ended with nothing pending.
 */
import { Producer } from '../../src/client/producer.js';
import { QueueConsumer } from '../../src/client/queue-consumer.js';
import { QueueAdmin } from '../../src/client/queue-admin.js';
import type { History } from './history.js';
import { STOP_SLACK_MS, settlesWithin } from './produce-workload.js';

/**
 * What a worker does with job `j-<seq>` at a delivery: every 23rd is poison (rejected at
 * once), every 7th of the rest fails its first attempt (released, no delay) and is acked at
 * a later one, the others are acked. Fixed by the job's number, so the checker knows which
 * jobs may end in the dead-letter topic.
 */
export function jobPlan(value: string, deliveryCount: number): 'ack' | 'release' | 'reject' {
  const seq = Number(/^j-(\d+)$/.exec(value)?.[1] ?? NaN);
  if (seq % 23 === 11) return 'reject';
  if (seq % 7 === 3 && deliveryCount <= 1) return 'release';
  return 'ack';
}

export interface QueueWorkloadOptions {
  /** Bootstrap list of the job producer. */
  brokers: readonly string[];
  /** Bootstrap list of the workers: the first live one keeps the share group. */
  workerBrokers: readonly string[];
  topic: string;
  groupId: string;
  partitions: number;
  workers: number;
  /** Pause between two enqueues, ms. */
  enqueueEveryMs: number;
  deliveryTimeoutMs: number;
}

export class QueueWorkload {
  private enqueuing = true;
  private stopping = false;
  private readonly tasks: Promise<void>[] = [];
  private enqueuer: Promise<void> | undefined;
  private readonly live = new Set<QueueConsumer>();
  private producer: Producer | undefined;
  /** Jobs acked or rejected (the op ended ok). */
  private readonly settled = new Set<string>();
  /** Jobs an ack or reject was sent for whose outcome is unknown (the op ended `info`). */
  private readonly maybeSettled = new Set<string>();
  private readonly enqueued = new Set<string>();
  /** The enqueue not settled yet: what stopEnqueuing() reports when it never settles. */
  private sending: { value: string; since: number } | undefined;

  constructor(private readonly h: History, private readonly o: QueueWorkloadOptions) {}

  start(): void {
    this.producer = new Producer({ brokers: [...this.o.brokers], acks: 'all', lingerMs: 0, deliveryTimeoutMs: this.o.deliveryTimeoutMs, requestTimeoutMs: 10_000 });
    this.enqueuer = this.enqueue(this.producer);
    for (let i = 1; i <= this.o.workers; i++) this.tasks.push(this.worker(`worker-${i}`));
  }

  /**
   * Stops enqueuing (after the send in flight). Bounded like ProduceWorkload.stop(): an enqueue
   * still unsettled deliveryTimeoutMs + STOP_SLACK_MS later is returned instead of waited for.
   */
  async stopEnqueuing(): Promise<Record<string, unknown>[]> {
    this.enqueuing = false;
    const stuck: Record<string, unknown>[] = [];
    if (this.enqueuer && !(await settlesWithin(this.enqueuer, this.o.deliveryTimeoutMs + STOP_SLACK_MS)) && this.sending) {
      stuck.push({ proc: 'enqueuer', value: this.sending.value, waitedMs: Date.now() - this.sending.since });
    }
    if (this.producer) await settlesWithin(this.producer.close().catch(() => {}), STOP_SLACK_MS);
    return stuck;
  }

  /**
   * Resolves true once every enqueued (ok) job was settled, or every one left had an
   * indeterminate ack or reject, and the group holds nothing (finalState); false after `timeoutMs`.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    let lastState = 0;
    while (Date.now() < deadline) {
      const left = [...this.enqueued].filter((v) => !this.settled.has(v));
      // Settled is not enough: a rejected job stays in flight at the broker until its copy is
      // in the dead-letter topic, which the checker reads once the brokers stop.
      if (left.every((v) => this.maybeSettled.has(v)) && Date.now() - lastState >= 2000) {
        lastState = Date.now();
        const pending = await this.pending().catch(() => undefined);
        if (pending === 0) return true;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    return false;
  }

  /** Records the share group's counts now (a `queue-state` op: what the checker reads). */
  async finalState(): Promise<void> {
    const op = this.h.invoke('queue-admin', 'queue-state', { group: this.o.groupId });
    try {
      const d = await this.describe();
      op.ok({ available: d.available, delayed: d.delayed, inFlight: d.inFlight });
    } catch (err) {
      op.info(err);
    }
  }

  /** Jobs the group still holds: available (the backlog not yet read included), delayed, in flight. */
  private async pending(): Promise<number> {
    const d = await this.describe();
    return d.available + d.delayed + d.inFlight;
  }

  private async describe() {
    const admin = new QueueAdmin({ brokers: [...this.o.workerBrokers], requestTimeoutMs: 10_000 });
    try {
      return await admin.describeGroup(this.o.groupId);
    } finally {
      await admin.close().catch(() => {});
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.stopEnqueuing();
    await Promise.all([...this.live].map((w) => w.close().catch(() => {})));
    await Promise.all(this.tasks);
  }

  private async enqueue(p: Producer): Promise<void> {
    for (let seq = 0; this.enqueuing; seq++) {
      const value = `j-${seq}`;
      const partition = seq % this.o.partitions;
      const op = this.h.invoke('enqueuer', 'enqueue', { topic: this.o.topic, partition, value });
      this.sending = { value, since: Date.now() };
      try {
        const r = await p.send(this.o.topic, { partition, value });
        this.enqueued.add(value);
        op.ok({ topic: this.o.topic, partition: r.partition, offset: r.offset, value });
      } catch (err) {
        op.info(err);
      }
      this.sending = undefined;
      await new Promise((r) => setTimeout(r, this.o.enqueueEveryMs));
    }
  }

  private async worker(proc: string): Promise<void> {
    while (!this.stopping) {
      const w = new QueueConsumer({
        brokers: [...this.o.workerBrokers], groupId: this.o.groupId, topics: this.o.topic, concurrency: 5,
        maxWaitMs: 1000, requestTimeoutMs: 10_000, settings: { startFrom: 'earliest' },
      });
      this.live.add(w);
      try {
        for await (const job of w) {
          const value = job.value?.toString() ?? '';
          this.h.event(proc, 'deliver', { value, topic: job.topic, partition: job.partition, offset: job.offset, deliveryCount: job.deliveryCount });
          const plan = jobPlan(value, job.deliveryCount);
          const op = this.h.invoke(proc, plan, { value, partition: job.partition, offset: job.offset, deliveryCount: job.deliveryCount });
          try {
            if (plan === 'ack') await job.ack();
            else if (plan === 'reject') await job.reject('chaos: poison job');
            else await job.release({ delayMs: 0, reason: 'chaos: first attempt fails' });
            if (plan !== 'release') this.settled.add(value);
            op.ok();
          } catch (err) {
            if (plan !== 'release') this.maybeSettled.add(value);
            op.info(err);
          }
        }
      } catch (err) {
        if (!this.stopping) this.h.invoke(proc, 'worker-restart').info(err);
        // A member that fails at once (its broker refuses it) must not spin.
        await new Promise((r) => setTimeout(r, 500));
      }
      this.live.delete(w);
      await w.close().catch(() => {});
    }
  }
}
