/**
 * An in-process fake cluster for client routing tests, reached through the clients'
 * `connectionFactory`: brokers with URLs and node ids that answer Metadata, Produce, Fetch
 * and ListOffsets from one shared log per partition (replication is perfect here: what
 * matters is who may append and who may serve), refuse what they do not lead with
 * NOT_LEADER_OR_FOLLOWER, check currentLeaderEpoch, and can be killed (connections drop;
 * requests not yet processed are lost, as on a dead broker) and revived. `clustered: false`
 * answers Metadata as a single broker does (no brokers, no partitionInfo).
 *
 * Every request is recorded (`requests`) so tests can count what went where.
 */
import { Connection, type ConnectionOptions } from '../../src/client/connection.js';
import { ClientClosedError, NetworkError } from '../../src/client/errors.js';
import type { ConnectionFactory } from '../../src/client/broker-pool.js';
import { Api, type ApiKey } from '../../src/protocol/api.js';
import type { BodyOf, ResponseOf } from '../../src/protocol/api-table.js';
import { fromWireError } from '../../src/protocol/errors.js';
import { lastOffsetOf, setBaseOffset, decodeBatches } from '../../src/record/index.js';
import { tpKey } from '../../src/protocol/topic-partition.js';

export interface FakeBroker {
  nodeId: number;
  url: string;
  alive: boolean;
  /** Delay before a Produce is processed (so several are in flight). */
  produceDelayMs: number;
}

export interface RecordedRequest {
  url: string;
  api: number;
  body: any;
}

const NOT_LEADER = { code: 6, message: 'not the leader' };

export class FakeCluster {
  clustered = true;
  readonly brokers = new Map<number, FakeBroker>();
  readonly topics = new Map<string, { partitions: number; leaders: { leader: number; leaderEpoch: number }[] }>();
  readonly logs = new Map<string, Buffer[]>();
  readonly requests: RecordedRequest[] = [];
  readonly conns: FakeConn[] = [];
  metadataDelayMs = 5;
  /** InitProducerId answers from one counter. */
  nextProducerId = 1000;
  /** Called before a request is processed by a live broker (tests move leaders from here). */
  onRequest: ((url: string, api: number, body: any) => void) | undefined;
  /** Answers apis the fake does not (a group coordinator, say): an answer, or undefined for the fake's own. */
  answerOther: ((api: number, body: any) => any) | undefined;
  /** When it returns a promise, the answer (already decided) is handed back only once it resolves. */
  holdAnswer: ((api: number, body: any) => Promise<void> | undefined) | undefined;
  /** While set, pushes an answer brings (`pushAfter`) wait for it (a broker's fsync that takes its time). */
  holdPushes: Promise<void> | undefined;

  constructor(n: number) {
    for (let i = 0; i < n; i++) this.brokers.set(i, { nodeId: i, url: `ws://fake-${i}:9400`, alive: true, produceDelayMs: 0 });
  }

  readonly factory: ConnectionFactory = (urls, opts) => {
    const c = new FakeConn(this, urls, opts);
    this.conns.push(c);
    return c;
  };

  url(id: number): string {
    return this.brokers.get(id)!.url;
  }

  byUrl(url: string): FakeBroker | undefined {
    for (const b of this.brokers.values()) if (b.url === url) return b;
    return undefined;
  }

  createTopic(name: string, leaders: number[]): void {
    this.topics.set(name, { partitions: leaders.length, leaders: leaders.map((leader) => ({ leader, leaderEpoch: 0 })) });
    for (let p = 0; p < leaders.length; p++) this.logs.set(tpKey(name, p), []);
  }

  /** Moves a partition's leadership (leader -1: offline); a new leader gets the next epoch. */
  moveLeader(topic: string, partition: number, leader: number): void {
    const l = this.topics.get(topic)!.leaders[partition];
    l.leader = leader;
    if (leader >= 0) l.leaderEpoch++;
  }

  kill(id: number): void {
    const b = this.brokers.get(id)!;
    b.alive = false;
    for (const c of this.conns) if (c.atUrl === b.url) c.drop();
  }

  revive(id: number): void {
    this.brokers.get(id)!.alive = true;
  }

  /** The values stored in a partition, in offset order. */
  values(topic: string, partition: number): string[] {
    const out: string[] = [];
    for (const b of this.logs.get(tpKey(topic, partition)) ?? []) {
      for (const batch of decodeBatches(b)) for (const r of batch.records) out.push(r.value!.toString());
    }
    return out;
  }

  append(topic: string, partition: number, batch: Uint8Array): number {
    const log = this.logs.get(tpKey(topic, partition))!;
    const end = this.logEnd(topic, partition);
    const copy = Buffer.from(batch);
    setBaseOffset(copy, 0, end);
    log.push(copy);
    return end;
  }

  logEnd(topic: string, partition: number): number {
    const log = this.logs.get(tpKey(topic, partition))!;
    return log.length === 0 ? 0 : lastOffsetOf(log[log.length - 1]) + 1;
  }

  count(api: number, url?: string): number {
    return this.requests.filter((r) => r.api === api && (url === undefined || r.url === url)).length;
  }

  /** Answers one request as broker `b` does now. */
  answer(b: FakeBroker, api: number, body: any): any {
    const leads = (topic: string, p: number) => this.topics.get(topic)?.leaders[p]?.leader === b.nodeId || !this.clustered;
    switch (api) {
      case Api.Metadata: {
        const names = body.topics ?? [...this.topics.keys()];
        const topics = names.map((name: string) => {
          const t = this.topics.get(name);
          if (!t) return { name, partitions: 0, config: {}, error: { code: 3, message: `no topic ${name}` } };
          return {
            name, partitions: t.partitions, config: {},
            ...(this.clustered ? {
              partitionInfo: t.leaders.map((l, partition) => ({ partition, leader: l.leader, leaderEpoch: l.leaderEpoch, replicas: [...this.brokers.keys()], isr: [...this.brokers.keys()] })),
            } : {}),
          };
        });
        if (!this.clustered) return { brokerVersion: 'fake', topics };
        const brokers = [...this.brokers.values()].filter((x) => x.alive).map((x) => ({ nodeId: x.nodeId, url: x.url }));
        return { brokerVersion: 'fake', topics, brokers, controllerId: 0 };
      }
      case Api.Produce:
        return {
          partitions: body.partitions.map((p: any) => {
            if (!this.topics.has(p.topic)) return { topic: p.topic, partition: p.partition, error: { code: 3, message: 'no such topic' } };
            if (!leads(p.topic, p.partition)) return { topic: p.topic, partition: p.partition, error: NOT_LEADER };
            return { topic: p.topic, partition: p.partition, baseOffset: this.append(p.topic, p.partition, p.records) };
          }),
        };
      case Api.Fetch:
        return {
          partitions: body.partitions.map((p: any) => {
            const base = { topic: p.topic, partition: p.partition, highWatermark: -1, logStartOffset: 0, records: Buffer.alloc(0) };
            if (!leads(p.topic, p.partition)) return { ...base, error: NOT_LEADER };
            const l = this.topics.get(p.topic)!.leaders[p.partition];
            if (p.currentLeaderEpoch !== undefined && p.currentLeaderEpoch >= 0) {
              if (p.currentLeaderEpoch < l.leaderEpoch) return { ...base, error: { code: 74, message: 'fenced epoch' } };
              if (p.currentLeaderEpoch > l.leaderEpoch) return { ...base, error: { code: 75, message: 'unknown epoch' } };
            }
            const log = this.logs.get(tpKey(p.topic, p.partition))!;
            const records = Buffer.concat(log.filter((x) => lastOffsetOf(x) >= p.offset));
            return { ...base, highWatermark: this.logEnd(p.topic, p.partition), records };
          }),
        };
      case Api.ListOffsets:
        return {
          partitions: body.partitions.map((p: any) => {
            if (!leads(p.topic, p.partition)) return { topic: p.topic, partition: p.partition, offset: -1, error: NOT_LEADER };
            return { topic: p.topic, partition: p.partition, offset: p.timestamp === -2 ? 0 : this.logEnd(p.topic, p.partition) };
          }),
        };
      case Api.InitProducerId:
        // Producers are idempotent by default: ids from one counter, as the cluster hands them out.
        return { producerId: this.nextProducerId++, producerEpoch: 0 };
      default:
        return { error: { code: 1000, message: `fake broker: api ${api}` } };
    }
  }
}

/** A Connection to the fake cluster: same public surface, no sockets. */
export class FakeConn extends Connection {
  /** URL of the broker it is connected to, or undefined. */
  atUrl: string | undefined;
  private readonly list: string[];
  private closedFlag = false;
  private dropped = false;
  private pendingRejects = new Set<(e: Error) => void>();
  private readonly pushFns = new Set<(msg: Record<string, unknown>) => void>();
  private readonly lostFns = new Set<(err: Error) => void>();

  constructor(private readonly cluster: FakeCluster, urls: readonly string[], opts: ConnectionOptions) {
    super(urls, opts);
    this.list = [...urls];
  }

  override get url(): string {
    return this.atUrl ?? this.list[0];
  }

  override get connected(): boolean {
    return this.atUrl !== undefined && !this.dropped;
  }

  /** Down after a drop until a broker of its list is alive again (as the real one reconnects). */
  override get reconnecting(): boolean {
    if (!this.dropped || this.closedFlag) return false;
    return !this.reopen();
  }

  override get limits(): undefined {
    return undefined;
  }

  private reopen(): boolean {
    const u = this.list.find((x) => this.cluster.byUrl(x)?.alive);
    if (u === undefined) return false;
    this.atUrl = u;
    this.dropped = false;
    return true;
  }

  override connect(): Promise<void> {
    if (this.closedFlag) return Promise.reject(new ClientClosedError('fake connection'));
    if (this.atUrl !== undefined && !this.dropped) return Promise.resolve();
    if (this.reopen()) return Promise.resolve();
    return Promise.reject(new NetworkError(this.list.join(','), `cannot connect to ${this.list.join(', ')}`));
  }

  drop(): void {
    this.dropped = true;
    const rs = [...this.pendingRejects];
    this.pendingRejects.clear();
    for (const r of rs) r(new NetworkError(this.url, `connection to ${this.url} was lost`));
    for (const fn of [...this.lostFns]) fn(new NetworkError(this.url, `connection to ${this.url} was lost`));
  }

  override onPush(fn: (msg: Record<string, unknown>) => void): () => void {
    this.pushFns.add(fn);
    return () => this.pushFns.delete(fn);
  }

  override onLost(fn: (err: Error) => void): () => void {
    this.lostFns.add(fn);
    return () => this.lostFns.delete(fn);
  }

  /** Hands `msg` to the push listeners, as a frame with id 0 from the broker. */
  push(msg: Record<string, unknown>): void {
    for (const fn of [...this.pushFns]) fn(msg);
  }

  override async request<A extends ApiKey>(api: A, body: BodyOf<A>): Promise<ResponseOf<A>> {
    if (this.closedFlag) throw new ClientClosedError('fake connection');
    if (this.dropped && !this.reopen()) throw new NetworkError(this.url, `not connected to ${this.url}`);
    await this.connect();
    const url = this.atUrl!;
    this.cluster.requests.push({ url, api, body });
    const b = this.cluster.byUrl(url)!;
    const delay = api === Api.Metadata ? this.cluster.metadataDelayMs : api === Api.Produce ? b.produceDelayMs : 0;
    await new Promise<void>((resolve, reject) => {
      this.pendingRejects.add(reject);
      const done = () => { if (this.pendingRejects.delete(reject)) resolve(); };
      if (delay > 0) setTimeout(done, delay);
      else setImmediate(done);
    });
    if (this.closedFlag) throw new ClientClosedError('fake connection');
    this.cluster.onRequest?.(url, api, body);
    if (!b.alive) throw new NetworkError(url, `connection to ${url} was lost`);
    const res = this.cluster.answerOther?.(api, body) ?? this.cluster.answer(b, api, body);
    // An answer may bring a push (`pushAfter`), sent on this connection a turn later whether
    // or not the answer is held (a broker pushes the outcome of an acquire's acks once durable).
    const push = res.pushAfter as Record<string, unknown> | undefined;
    delete res.pushAfter;
    if (push) void Promise.resolve(this.cluster.holdPushes).then(() => setImmediate(() => { if (!this.dropped && !this.closedFlag) this.push(push); }));
    const hold = this.cluster.holdAnswer?.(api, body);
    if (hold) await hold;
    if (res.error) throw fromWireError(res.error);
    return res as ResponseOf<A>;
  }

  override async sendOnly(api: typeof Api.Produce, body: BodyOf<typeof Api.Produce>): Promise<void> {
    await this.request(api, body);
  }

  override async close(): Promise<void> {
    this.closedFlag = true;
    const rs = [...this.pendingRejects];
    this.pendingRejects.clear();
    for (const r of rs) r(new ClientClosedError('fake connection'));
  }
}
