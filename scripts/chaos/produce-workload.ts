/**
 * Producers of the chaos run: idempotent, acks=all, each sending one message at a time (so
 * its send order is its acknowledgement order) with value `p<n>-<seq>`, producer n to
 * partition n mod partitions only: a producer stuck on an offline partition then does not
 * make the others look unavailable too. Every send is a `produce` op: ok with the acknowledged offset, fail when the
 * client refused it before sending, info for any other error (a timeout may have stored it).
 */
import { Producer } from '../../src/client/producer.js';
import { InvalidArgumentError, MessageTooLargeError } from '../../src/client/errors.js';
import type { History } from './history.js';

/** Slack over deliveryTimeoutMs before stop() calls a send stuck: the producer must settle every send within the timeout. */
export const STOP_SLACK_MS = 30_000;

/** Resolves true once `p` settles, false after `ms` (the timer does not outlive it). */
export async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((r) => { timer = setTimeout(() => r(false), ms); });
  try {
    return await Promise.race([p.then(() => true as const, () => true as const), late]);
  } finally {
    clearTimeout(timer);
  }
}

export interface ProduceWorkloadOptions {
  brokers: readonly string[];
  topic: string;
  partitions: number;
  producers: number;
  /** Producer deliveryTimeoutMs: how long one send may retry before it is an info op. */
  deliveryTimeoutMs: number;
}

export class ProduceWorkload {
  private stopping = false;
  private readonly loops: Promise<void>[] = [];
  private readonly clients: Producer[] = [];
  /** Each loop's send not settled yet (by producer number): what stop() reports when one never settles. */
  private readonly waiting = new Map<number, { value: string; since: number }>();

  constructor(private readonly h: History, private readonly o: ProduceWorkloadOptions) {}

  start(): void {
    for (let i = 1; i <= this.o.producers; i++) {
      const p = new Producer({ brokers: [...this.o.brokers], acks: 'all', idempotent: true, lingerMs: 0, deliveryTimeoutMs: this.o.deliveryTimeoutMs, requestTimeoutMs: 10_000 });
      this.clients.push(p);
      this.loops.push(this.loop(p, i));
    }
  }

  /**
   * Ends every loop after its send in flight, then closes the producers. Bounded: a send
   * still unsettled deliveryTimeoutMs + STOP_SLACK_MS after stop() began (a producer bug: every
   * send must settle within its delivery timeout) is returned instead of waited for, and the
   * close of its producer is not awaited either.
   */
  async stop(): Promise<Record<string, unknown>[]> {
    this.stopping = true;
    const bound = this.o.deliveryTimeoutMs + STOP_SLACK_MS;
    const stuck: Record<string, unknown>[] = [];
    if (!(await settlesWithin(Promise.all(this.loops), bound))) {
      for (const [n, w] of this.waiting) stuck.push({ proc: `producer-${n}`, value: w.value, waitedMs: Date.now() - w.since });
    }
    await settlesWithin(Promise.all(this.clients.map((c) => c.close().catch(() => {}))), STOP_SLACK_MS);
    return stuck;
  }

  private async loop(p: Producer, n: number): Promise<void> {
    const proc = `producer-${n}`;
    const partition = n % this.o.partitions;
    for (let seq = 0; !this.stopping; seq++) {
      const value = `p${n}-${seq}`;
      const op = this.h.invoke(proc, 'produce', { topic: this.o.topic, partition, value });
      this.waiting.set(n, { value, since: Date.now() });
      try {
        const r = await p.send(this.o.topic, { partition, value });
        op.ok({ topic: this.o.topic, partition: r.partition, offset: r.offset, value });
      } catch (err) {
        if (err instanceof InvalidArgumentError || err instanceof MessageTooLargeError) op.fail(err);
        else op.info(err);
      }
      this.waiting.delete(n);
    }
  }
}
