/**
 * The nemesis: faults injected one at a time, chosen and timed by the seeded Rng. Each fault
 * is applied (a `fault` op), held for a while, healed (a `heal` op), and followed by a wait
 * until the cluster recovered (`recover`: every broker registered and seen by every broker,
 * every partition of the run's topics with a leader) before the next one, so the checker
 * judges what the cluster promises after each fault, not a pile-up of them.
 */
import { until } from '../../test/cluster/cluster-helpers.js';
import { untilAllRegistered } from '../../test/cluster/broker-cluster.js';
import type { ChaosCluster } from './chaos-cluster.js';
import type { History } from './history.js';
import type { Rng } from './random.js';

export const FAULT_KINDS = ['kill', 'pause', 'cut-etcd', 'cut-net', 'kill-etcd', 'move-leader', 'reassign'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Faults that cannot run on this build, with why; asking for one is refused by name. */
export const UNAVAILABLE_FAULTS: Partial<Record<FaultKind, string>> = {
  reassign: 'a reassignment in flight needs partition reassignment (issue 14, branch f/reassign), which is not merged yet',
};

/** What to do, and to whom. */
export interface NemesisOptions {
  kinds: readonly FaultKind[];
  /** Node ids the broker faults may hit (kill-etcd hits etcd whatever this is). */
  targets: readonly number[];
  /** Topics whose partitions must have a leader again before the next fault. */
  topics: readonly string[];
  /** How long a fault is held, ms (drawn uniformly). */
  holdMs: readonly [number, number];
  /** Quiet time between a recovery and the next fault, ms. */
  gapMs: readonly [number, number];
  /** Bound on the wait for recovery after a heal. */
  recoverTimeoutMs: number;
}

export class Nemesis {
  private stopping = false;
  private wake: (() => void) | undefined;

  constructor(private readonly cc: ChaosCluster, private readonly h: History, private readonly rng: Rng, private readonly o: NemesisOptions) {}

  /** Injects faults until stop(); resolves once the last one is healed and recovered from. */
  async run(): Promise<void> {
    if (this.o.kinds.length === 0) return;
    while (!this.stopping) {
      await this.sleep(this.rng.int(this.o.gapMs[0], this.o.gapMs[1]));
      if (this.stopping) break;
      const kind = this.rng.pick(this.o.kinds);
      const hold = this.rng.int(this.o.holdMs[0], this.o.holdMs[1]);
      await this.inject(kind, hold);
    }
  }

  /** No new fault after this; the one in progress is still held, healed and recovered from. */
  stop(): void {
    this.stopping = true;
    this.wake?.();
  }

  private async inject(kind: FaultKind, holdMs: number): Promise<void> {
    const c = this.cc.cluster;
    const target = kind === 'kill-etcd' ? 0 : await this.pickTarget(kind);
    if (target === undefined) return;
    const b = target > 0 ? c.broker(target) : undefined;
    const fault = this.h.invoke('nemesis', 'fault', { fault: kind, target: target > 0 ? `broker-${target}` : 'etcd', holdMs });
    try {
      switch (kind) {
        case 'kill': await b!.kill(); break;
        case 'pause': b!.pause(); break;
        case 'cut-etcd': this.cc.etcdLink.get(target)!.cut(); break;
        case 'cut-net': this.cc.front.get(target)!.cut(); break;
        case 'kill-etcd': await c.etcd.kill(); break;
        case 'move-leader': await b!.stop('SIGTERM'); break;
        case 'reassign': throw new Error(UNAVAILABLE_FAULTS.reassign);
      }
      fault.ok();
    } catch (err) {
      fault.info(err);
    }
    // Held for its whole time even when stop() came meanwhile: a fault is never cut short.
    await new Promise((r) => setTimeout(r, holdMs));
    const heal = this.h.invoke('nemesis', 'heal', { fault: kind, target: target > 0 ? `broker-${target}` : 'etcd' });
    try {
      switch (kind) {
        case 'kill':
        case 'move-leader': await b!.restart(); break;
        case 'pause': b!.resume(); break;
        case 'cut-etcd': this.cc.etcdLink.get(target)!.restore(); break;
        case 'cut-net': this.cc.front.get(target)!.restore(); break;
        case 'kill-etcd': await c.etcd.restart(); break;
        case 'reassign': break;
      }
      heal.ok();
    } catch (err) {
      heal.info(err);
    }
    await this.recover();
  }

  /** A broker among the targets; for move-leader one that leads a partition (else none: skipped). */
  private async pickTarget(kind: FaultKind): Promise<number | undefined> {
    if (kind !== 'move-leader') return this.rng.pick(this.o.targets);
    const leaders = new Set<number>();
    const md = await this.cc.cluster.metadata(undefined, [...this.o.topics]).catch(() => undefined);
    for (const t of md?.topics ?? []) for (const p of t.partitionInfo ?? []) leaders.add(p.leader);
    const candidates = this.o.targets.filter((n) => leaders.has(n));
    return candidates.length > 0 ? this.rng.pick(candidates) : undefined;
  }

  /** Waits until every broker is registered and every partition of the topics has a leader. */
  async recover(): Promise<boolean> {
    const op = this.h.invoke('nemesis', 'recover');
    try {
      await untilAllRegistered(this.cc.cluster, this.cc.cluster.brokers.length, this.o.recoverTimeoutMs);
      await until(async () => {
        const md = await this.cc.cluster.metadata(undefined, [...this.o.topics]).catch(() => undefined);
        if (!md || md.topics.length !== this.o.topics.length) return undefined;
        return md.topics.every((t) => !t.error && (t.partitionInfo ?? []).every((p) => p.leader >= 0)) ? true : undefined;
      }, this.o.recoverTimeoutMs, 'a leader for every partition');
      op.ok();
      return true;
    } catch (err) {
      op.info(err);
      return false;
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      const t = setTimeout(r, ms);
      this.wake = () => { clearTimeout(t); r(); };
    });
  }
}
