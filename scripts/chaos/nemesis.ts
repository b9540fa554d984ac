/**
 * The nemesis: faults injected one at a time, chosen and timed by the seeded Rng. Each fault
 * is applied (a `fault` op), held for a while, healed (a `heal` op), and followed by a wait
 * until the cluster recovered (`recover`: every broker registered and seen by every broker,
 * every partition of the run's topics with a leader) before the next one, so the checker
 * judges what the cluster promises after each fault, not a pile-up of them. The exception is
 * `reassign`: the reassignment it starts is left running (its heal does nothing) while the
 * next faults happen; the run waits for every reassignment to finish before its checks
 * (`untilReassigned`). Targets: fault-choice.ts.
 */
import { Admin } from '../../src/client/admin.js';
import { ClusterKeys } from '../../src/cluster/keys.js';
import { Api, type MetadataResponse } from '../../src/protocol/api.js';
import { until } from '../../test/cluster/cluster-helpers.js';
import { untilAllRegistered } from '../../test/cluster/broker-cluster.js';
import type { ChaosCluster } from './chaos-cluster.js';
import { pickBroker, planReassignment, type ReassignPlan } from './fault-choice.js';
import type { History } from './history.js';
import type { Rng } from './random.js';

export const FAULT_KINDS = [
  'kill', 'pause', 'cut-etcd', 'cut-net', 'kill-etcd', 'move-leader', 'reassign',
  'pause-long', 'cut-etcd-controller', 'pause-etcd',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

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
  /** The brokers' etcd session TTL: a `pause-long` is held past it (1.5-2.5 times), whatever `holdMs` says. */
  sessionTtlMs: number;
  /** Bound on the wait for recovery after a heal. */
  recoverTimeoutMs: number;
  /** The consumer group whose coordinator's broker broker faults favour (when it is among `targets`). */
  groupId?: string;
  /** The replication factor a `reassign` fault keeps partitions at (or restores). */
  replicationFactor: number;
  /** Per topic, brokers a `reassign` fault never removes (the share group's broker for the jobs topic). */
  pinned?: ReadonlyMap<string, readonly number[]>;
}

export class Nemesis {
  private stopping = false;
  private wake: (() => void) | undefined;
  /** Reassignments started, in order. */
  private readonly started: { plan: ReassignPlan; opIndex: number }[] = [];

  constructor(private readonly cc: ChaosCluster, private readonly h: History, private readonly rng: Rng, private readonly o: NemesisOptions) {}

  /** Injects faults until stop(); resolves once the last one is healed and recovered from. */
  async run(): Promise<void> {
    if (this.o.kinds.length === 0) return;
    while (!this.stopping) {
      await this.sleep(this.rng.int(this.o.gapMs[0], this.o.gapMs[1]));
      if (this.stopping) break;
      const kind = this.rng.pick(this.o.kinds);
      // A stall past the lease is what `pause-long` is for: the broker wakes up deposed, its
      // sessions gone, still believing what it believed (a GC pause or a frozen VM).
      const hold = kind === 'pause-long'
        ? this.rng.int(Math.round(this.o.sessionTtlMs * 1.5), Math.round(this.o.sessionTtlMs * 2.5))
        : this.rng.int(this.o.holdMs[0], this.o.holdMs[1]);
      await this.inject(kind, hold);
    }
  }

  /** No new fault after this; the one in progress is still held, healed and recovered from. */
  stop(): void {
    this.stopping = true;
    this.wake?.();
  }

  private async inject(kind: FaultKind, holdMs: number): Promise<void> {
    if (kind === 'reassign') return this.reassign(holdMs);
    const c = this.cc.cluster;
    const choice = kind === 'kill-etcd' || kind === 'pause-etcd' ? { nodeId: 0, coordinator: false } : await this.pickTarget(kind);
    if (choice === undefined) {
      this.h.event('nemesis', 'skip', { fault: kind, why: 'no target' });
      return;
    }
    const target = choice.nodeId;
    const b = target > 0 ? c.broker(target) : undefined;
    const fault = this.h.invoke('nemesis', 'fault', {
      fault: kind, target: target > 0 ? `broker-${target}` : 'etcd', holdMs,
      ...(choice.coordinator ? { groupCoordinator: true } : {}), ...(choice.controller ? { controller: true } : {}),
    });
    try {
      switch (kind) {
        case 'kill': await b!.kill(); break;
        case 'pause':
        case 'pause-long': b!.pause(); break;
        case 'cut-etcd':
        case 'cut-etcd-controller': this.cc.etcdLink.get(target)!.cut(); break;
        case 'cut-net': this.cc.front.get(target)!.cut(); break;
        case 'kill-etcd': await c.etcd.kill(); break;
        case 'pause-etcd': c.etcd.pause(); break;
        case 'move-leader': await b!.stop('SIGTERM'); break;
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
        case 'pause':
        case 'pause-long': b!.resume(); break;
        case 'cut-etcd':
        case 'cut-etcd-controller': this.cc.etcdLink.get(target)!.restore(); break;
        case 'cut-net': this.cc.front.get(target)!.restore(); break;
        case 'kill-etcd': await c.etcd.restart(); break;
        case 'pause-etcd': c.etcd.resume(); break;
      }
      heal.ok();
    } catch (err) {
      heal.info(err);
    }
    await this.recover();
  }

  /**
   * Starts a reassignment of a workload partition (fault-choice.ts: add, move or remove a
   * replica) through the Admin api and leaves it running: no heal, and the next fault does
   * not wait for it. Skipped when every partition is being reassigned.
   */
  private async reassign(holdMs: number): Promise<void> {
    const md = await this.cc.cluster.metadata(undefined, [...this.o.topics]).catch((err: unknown) => err as Error);
    if (md instanceof Error) {
      this.h.event('nemesis', 'skip', { fault: 'reassign', why: `no Metadata: ${md.message}` });
      return;
    }
    const live = (md.brokers ?? []).map((b) => b.nodeId).sort((a, b) => a - b);
    const plan = planReassignment(this.rng, placements(md), live, this.o.replicationFactor, this.o.pinned);
    if (!plan) {
      this.h.event('nemesis', 'skip', { fault: 'reassign', why: 'no partition to reassign', live, placements: placements(md) });
      return;
    }
    const fault = this.h.invoke('nemesis', 'fault', { fault: 'reassign', target: `${plan.topic}-${plan.partition}`, holdMs, kind: plan.kind, from: plan.from, to: plan.to });
    const admin = new Admin({ brokers: this.cc.cluster.brokers.filter((b) => b.running).map((b) => b.url), requestTimeoutMs: 15_000 });
    try {
      await admin.reassignPartitions([{ topic: plan.topic, partition: plan.partition, replicas: plan.to }]);
      this.started.push({ plan, opIndex: fault.invoke.index });
      fault.ok();
    } catch (err) {
      fault.info(err);
    } finally {
      await admin.close().catch(() => {});
    }
    await new Promise((r) => setTimeout(r, holdMs));
    this.h.invoke('nemesis', 'heal', { fault: 'reassign', target: `${plan.topic}-${plan.partition}`, left: 'running' }).ok();
    await this.recover();
  }

  /**
   * Waits until no reassignment runs on the run's topics, then checks that each partition
   * this nemesis reassigned is placed where its last reassignment asked (a `reassigned` op).
   * Resolves with what is wrong: `timeout` when some still ran after `timeoutMs`, and the
   * partitions that ended elsewhere.
   */
  async untilReassigned(timeoutMs: number): Promise<{ timeout: boolean; elsewhere: { partition: string; asked: number[]; placed: number[] }[] }> {
    const op = this.h.invoke('nemesis', 'reassigned', { started: this.started.length });
    let md: MetadataResponse;
    try {
      md = await until(async () => {
        const m = await this.cc.cluster.metadata(undefined, [...this.o.topics]).catch(() => undefined);
        return m && m.topics.length === this.o.topics.length && placements(m).every((p) => !p.reassigning) ? m : undefined;
      }, timeoutMs, 'no reassignment running');
    } catch (err) {
      op.info(err);
      return { timeout: true, elsewhere: [] };
    }
    const now = new Map(placements(md).map((p) => [`${p.topic}-${p.partition}`, p.replicas]));
    // One reassignment per partition at a time, so the last one started is the placement to expect.
    const last = new Map(this.started.map((s) => [`${s.plan.topic}-${s.plan.partition}`, s.plan.to]));
    const elsewhere = [...last].filter(([k, to]) => now.get(k)?.join(',') !== to.join(','))
      .map(([partition, asked]) => ({ partition, asked, placed: [...(now.get(partition) ?? [])] }));
    op.ok({ started: this.started.length, placements: Object.fromEntries(now), elsewhere });
    return { timeout: false, elsewhere };
  }

  /**
   * A broker among the targets (the group coordinator's half of the time: pickBroker); for
   * move-leader one that leads a partition of the run's topics or is the group coordinator;
   * for cut-etcd-controller the controller (Metadata's controllerId), which keeps its links to
   * the other brokers and its clients. None (skipped) when no target fits.
   */
  private async pickTarget(kind: FaultKind): Promise<{ nodeId: number; coordinator: boolean; controller?: boolean } | undefined> {
    const coordinator = await this.groupCoordinator();
    if (kind === 'cut-etcd-controller') {
      const md = await this.cc.cluster.metadata(undefined, [...this.o.topics]).catch(() => undefined);
      const ctl = md?.controllerId;
      if (ctl === undefined || ctl < 0 || !this.o.targets.includes(ctl)) return undefined;
      return { nodeId: ctl, coordinator: ctl === coordinator, controller: true };
    }
    if (kind !== 'move-leader') return pickBroker(this.rng, this.o.targets, coordinator);
    const leaders = new Set<number>(coordinator === undefined ? [] : [coordinator]);
    const md = await this.cc.cluster.metadata(undefined, [...this.o.topics]).catch(() => undefined);
    for (const t of md?.topics ?? []) for (const p of t.partitionInfo ?? []) leaders.add(p.leader);
    return pickBroker(this.rng, this.o.targets.filter((n) => leaders.has(n)), coordinator);
  }

  /** The broker coordinating the group now (FindCoordinator at a running broker), if any answers. */
  private async groupCoordinator(): Promise<number | undefined> {
    if (this.o.groupId === undefined) return undefined;
    for (const b of this.cc.cluster.brokers) {
      if (!b.running) continue;
      const r = await this.cc.cluster.request(b.nodeId, Api.FindCoordinator, { key: this.o.groupId }).catch(() => undefined);
      if (r && r.nodeId >= 0) return r.nodeId;
    }
    return undefined;
  }

  /**
   * Waits until every broker is registered (in etcd itself, and in every broker's view) and
   * every partition of the topics has a leader. The views alone do not do: a broker whose etcd
   * client gave up keeps a view nobody updates, which still lists everybody.
   */
  async recover(): Promise<boolean> {
    const op = this.h.invoke('nemesis', 'recover');
    try {
      await until(async () => {
        const etcd = this.cc.cluster.etcd.client();
        try {
          const keys = await etcd.getAll().prefix(new ClusterKeys('sluice').brokersPrefix /* the brokers' default clusterName */).options({ deadline: Date.now() + 5000 }).keys();
          return keys.length === this.cc.cluster.brokers.length ? true : undefined;
        } catch {
          return undefined;
        } finally {
          etcd.close();
        }
      }, this.o.recoverTimeoutMs, 'every broker registered in etcd');
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

/** The partitions of a Metadata answer, with whether a reassignment of each runs. */
function placements(md: MetadataResponse) {
  return md.topics.flatMap((t) => (t.partitionInfo ?? []).map((p) => ({
    topic: t.name, partition: p.partition, replicas: p.replicas,
    reassigning: (p.addingReplicas?.length ?? 0) > 0 || (p.removingReplicas?.length ?? 0) > 0,
  })));
}
