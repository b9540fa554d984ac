/**
 * A consumer group of the chaos run: `members` consumers of one group reading the produce
 * workload's topic (every batch a `consume` op, for the checker's read-then-lost check),
 * each committing its positions every `commitEveryMs` (a `commit` op whose value is the
 * positions read just before: lower bounds of what the commit stored), and an admin reading
 * the group's committed offsets (`read-offsets`, exact) as often. A member whose run() ends
 * with an error is replaced by a new consumer (a `member-restart` info op).
 */
import { Consumer } from '../../src/client/consumer.js';
import { Admin } from '../../src/client/admin.js';
import type { History } from './history.js';

export interface GroupWorkloadOptions {
  /** Bootstrap list: the first live one is the group's home (coordinator) broker. */
  brokers: readonly string[];
  topic: string;
  groupId: string;
  members: number;
  commitEveryMs: number;
}

export class GroupWorkload {
  private stopping = false;
  private readonly tasks: Promise<void>[] = [];
  private readonly live = new Set<Consumer>();
  private admin: Admin | undefined;
  private wakers = new Set<() => void>();

  constructor(private readonly h: History, private readonly o: GroupWorkloadOptions) {}

  start(): void {
    for (let i = 1; i <= this.o.members; i++) this.tasks.push(this.member(`consumer-${i}`));
    this.admin = new Admin({ brokers: [...this.o.brokers], requestTimeoutMs: 10_000 });
    this.tasks.push(this.reader(this.admin));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const w of this.wakers) w();
    await Promise.all([...this.live].map((c) => c.close().catch(() => {})));
    await Promise.all(this.tasks);
    await this.admin?.close().catch(() => {});
  }

  /** One committed-offsets read now (also used after the run, before the check). */
  async readOffsets(admin = this.admin!): Promise<void> {
    const op = this.h.invoke('offset-reader', 'read-offsets', { group: this.o.groupId });
    try {
      const got = await admin.fetchOffsets(this.o.groupId);
      const offsets: Record<string, number> = {};
      for (const c of got) if (c.topic === this.o.topic) offsets[String(c.partition)] = c.offset;
      op.ok({ group: this.o.groupId, offsets });
    } catch (err) {
      op.info(err);
    }
  }

  private async reader(admin: Admin): Promise<void> {
    while (!this.stopping) {
      await this.readOffsets(admin);
      await this.sleep(this.o.commitEveryMs);
    }
  }

  private async member(proc: string): Promise<void> {
    while (!this.stopping) {
      const c = new Consumer({
        brokers: [...this.o.brokers], groupId: this.o.groupId, topics: this.o.topic, autoCommit: false,
        autoOffsetReset: 'earliest', requestTimeoutMs: 10_000, sessionTimeoutMs: 10_000,
      });
      this.live.add(c);
      const committer = this.committer(c, proc);
      try {
        await c.run({
          eachBatch: (b) => {
            this.h.event(proc, 'consume', {
              topic: b.topic, partition: b.partition,
              offsets: b.messages.map((m) => m.offset), values: b.messages.map((m) => m.value?.toString() ?? ''),
            });
          },
        });
      } catch (err) {
        if (!this.stopping) this.h.invoke(proc, 'member-restart').info(err);
        // A member that fails at once (its broker refuses it) must not spin.
        await new Promise((r) => setTimeout(r, 500));
      }
      this.live.delete(c);
      await c.close().catch(() => {});
      await committer;
    }
  }

  private async committer(c: Consumer, proc: string): Promise<void> {
    while (!this.stopping && this.live.has(c)) {
      await this.sleep(this.o.commitEveryMs);
      if (this.stopping || !this.live.has(c)) return;
      const offsets: Record<string, number> = {};
      const tps = c.assignment().filter((tp) => tp.topic === this.o.topic);
      for (const tp of tps) {
        const pos = c.position(tp);
        if (pos >= 0) offsets[String(tp.partition)] = pos;
      }
      if (Object.keys(offsets).length === 0) continue;
      const op = this.h.invoke(proc, 'commit', { group: this.o.groupId, offsets });
      try {
        await c.commit(tps);
        op.ok();
      } catch (err) {
        op.info(err);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      const done = () => { clearTimeout(t); this.wakers.delete(done); r(); };
      const t = setTimeout(done, ms);
      this.wakers.add(done);
    });
  }
}
