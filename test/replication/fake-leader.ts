/**
 * An in-process leader broker for the replica fetcher's tests: real leader logs
 * (DiskPartitionLog in a temp dir) behind `BrokerLink`s that answer Fetch (from the offset
 * up to the log end, a long poll woken by the leader's own appends) and OffsetsForLeaderEpoch
 * (the log's epoch cache), checking currentLeaderEpoch as a leader does. Faults on demand:
 * per-partition wire errors, answers lost after the read (a dropped link), connects refused,
 * requests held.
 */
import { join } from 'node:path';
import { Api, type ApiKey } from '../../src/protocol/api.js';
import type { BodyOf, ResponseOf } from '../../src/protocol/api-table.js';
import type { FetchPartitionResult, EpochEndOffsetResult } from '../../src/protocol/api.js';
import { ERRORS, type WireErrorName } from '../../src/protocol/errors.js';
import { tpKey } from '../../src/protocol/topic-partition.js';
import { SluiceError } from '../../src/errors.js';
import { DiskPartitionLog } from '../../src/storage/partition-log.js';
import { effectiveConfig } from '../../src/storage/log-config.js';
import { OffsetOutOfRangeError } from '../../src/storage/errors.js';
import type { LogConfig } from '../../src/storage/types.js';
import { encodeBatch } from '../../src/record/index.js';
import type { BrokerLink } from '../../src/replication/types.js';

export const CFG = effectiveConfig({ segmentBytes: 600, indexIntervalBytes: 200, retentionMs: -1 });

/** A log as a broker holds it, and (as leader) its epoch. */
export class Replica {
  constructor(readonly topic: string, readonly partition: number, readonly dir: string, public log: DiskPartitionLog, public epoch: number) {}

  static async open(root: string, name: string, topic: string, partition: number, epoch = 0, config: Partial<LogConfig> = {}): Promise<Replica> {
    const dir = join(root, `${name}-${topic}-${partition}`);
    return new Replica(topic, partition, dir, await DiskPartitionLog.open(dir, topic, partition, { ...CFG, ...config }), epoch);
  }

  /** As leader at `epoch` (default: its current one), appends one batch per value; returns the log end. */
  async produce(values: string[], epoch = this.epoch): Promise<number> {
    for (const value of values) {
      const now = 1_700_000_000_000;
      await this.log.append(encodeBatch([{ value, timestamp: now }], { now }), { leaderEpoch: epoch });
    }
    return this.log.logEndOffset;
  }
}

export interface RecordedRequest {
  api: number;
  body: unknown;
  at: number;
}

class Deferred {
  resolve!: () => void;
  readonly promise = new Promise<void>((r) => { this.resolve = r; });
}

function wireError(name: WireErrorName, message: string = ERRORS[name].message, data?: Record<string, unknown>) {
  return { code: ERRORS[name].code, message, ...(data ? { data } : {}) };
}

export class FakeLeader {
  readonly replicas = new Map<string, Replica>();
  readonly requests: RecordedRequest[] = [];
  /** Calls of linkFactory (connects, including refused ones). */
  connects = 0;
  /** Connects still to refuse (a leader that cannot be reached). */
  refuseConnects = 0;
  /** Fetch answers still to lose after the read: the data left the leader, the link dropped on the way. */
  dropFetchAnswers = 0;
  /** Per partition (tpKey): a wire error every Fetch and OffsetsForLeaderEpoch answers with, until cleared. */
  readonly partitionErrors = new Map<string, WireErrorName>();
  /** While set, requests wait for it before they are answered. */
  hold: Deferred | null = null;
  private holdApi: number | undefined;
  private readonly links = new Set<FakeLink>();
  private appended = new Deferred();

  constructor(readonly nodeId: number) {}

  add(r: Replica): Replica {
    this.replicas.set(tpKey(r.topic, r.partition), r);
    return r;
  }

  /** Appends as leader (its current epoch) and wakes long polls. */
  async produce(topic: string, partition: number, values: string[]): Promise<number> {
    const end = await this.replica(topic, partition).produce(values);
    this.wake();
    return end;
  }

  wake(): void {
    const d = this.appended;
    this.appended = new Deferred();
    d.resolve();
  }

  replica(topic: string, partition: number): Replica {
    const r = this.replicas.get(tpKey(topic, partition));
    if (!r) throw new Error(`fake leader ${this.nodeId} has no ${topic}/${partition}`);
    return r;
  }

  /** Holds requests (of `api` only, if given) until the returned function is called. */
  holdRequests(api?: number): () => void {
    const d = new Deferred();
    this.hold = d;
    this.holdApi = api;
    return () => { if (this.hold === d) this.hold = null; d.resolve(); };
  }

  /** The link factory's half for this broker: a new link per connect, or a refusal. */
  async connect(): Promise<BrokerLink> {
    // A network round trip is never only microtasks: a caller that retried without waiting
    // must show up as many connects, not as a starved event loop.
    await new Promise((r) => setImmediate(r));
    this.connects++;
    if (this.refuseConnects > 0) {
      this.refuseConnects--;
      throw new SluiceError('NETWORK_ERROR', `cannot connect to fake broker ${this.nodeId}`);
    }
    const link = new FakeLink(this);
    this.links.add(link);
    return link;
  }

  /** Links handed out and not closed or dropped. */
  openLinks(): number {
    let n = 0;
    for (const l of this.links) if (!l.closed) n++;
    return n;
  }

  /** Fails every request in flight on every link with NETWORK_ERROR (a cut connection). */
  dropLinks(): void {
    for (const l of this.links) l.drop();
    this.links.clear();
  }

  fetchesOf(topic: string, partition: number): RecordedRequest[] {
    return this.requests.filter((r) => r.api === Api.Fetch && (r.body as BodyOf<typeof Api.Fetch>).partitions.some((p) => p.topic === topic && p.partition === partition));
  }

  epochQueriesOf(topic: string, partition: number): RecordedRequest[] {
    return this.requests.filter((r) => r.api === Api.OffsetsForLeaderEpoch
      && (r.body as BodyOf<typeof Api.OffsetsForLeaderEpoch>).partitions.some((p) => p.topic === topic && p.partition === partition));
  }

  async answer(api: number, body: unknown, maxWaitMs: number, cancelled: () => boolean): Promise<unknown> {
    await new Promise((r) => setImmediate(r)); // as connect(): an answer takes at least a turn of the event loop
    this.requests.push({ api, body, at: Date.now() });
    if (this.hold && (this.holdApi === undefined || this.holdApi === api)) await this.hold.promise;
    if (api === Api.OffsetsForLeaderEpoch) return this.epochs(body as BodyOf<typeof Api.OffsetsForLeaderEpoch>);
    if (api !== Api.Fetch) throw new Error(`fake leader: api ${api} not served`);
    const req = body as BodyOf<typeof Api.Fetch>;
    const deadline = Date.now() + Math.min(maxWaitMs, req.maxWaitMs);
    for (;;) {
      const woken = this.appended.promise;
      const out = await this.readAll(req);
      const bytes = out.reduce((n, p) => n + p.records.length, 0);
      const now = Date.now();
      if (bytes >= req.minBytes || out.some((p) => p.error) || now >= deadline || cancelled()) {
        if (bytes > 0 && this.dropFetchAnswers > 0) {
          this.dropFetchAnswers--;
          throw new SluiceError('NETWORK_ERROR', `connection to fake broker ${this.nodeId} dropped`);
        }
        return { id: 0, partitions: out };
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([woken, new Promise<void>((r) => { timer = setTimeout(r, deadline - now); })]);
      clearTimeout(timer);
    }
  }

  private check(topic: string, partition: number, currentLeaderEpoch: number | undefined): { replica?: Replica; error?: ReturnType<typeof wireError> } {
    const r = this.replicas.get(tpKey(topic, partition));
    if (!r) return { error: wireError('NOT_LEADER_OR_FOLLOWER') };
    const injected = this.partitionErrors.get(tpKey(topic, partition));
    if (injected) return { error: wireError(injected) };
    if (currentLeaderEpoch !== undefined && currentLeaderEpoch >= 0) {
      if (currentLeaderEpoch < r.epoch) return { error: wireError('FENCED_LEADER_EPOCH') };
      if (currentLeaderEpoch > r.epoch) return { error: wireError('UNKNOWN_LEADER_EPOCH') };
    }
    return { replica: r };
  }

  private async readAll(req: BodyOf<typeof Api.Fetch>): Promise<FetchPartitionResult[]> {
    const out: FetchPartitionResult[] = [];
    for (const p of req.partitions) {
      const { replica, error } = this.check(p.topic, p.partition, p.currentLeaderEpoch);
      if (!replica) {
        out.push({ topic: p.topic, partition: p.partition, error: error!, highWatermark: -1, logStartOffset: -1, records: new Uint8Array(0) });
        continue;
      }
      const log = replica.log;
      try {
        const res = await log.read(p.offset, p.maxBytes);
        // A copy, as the wire makes: the follower's append must not touch the leader's buffers.
        out.push({ topic: p.topic, partition: p.partition, highWatermark: res.logEndOffset, logStartOffset: res.logStartOffset, records: Buffer.from(res.bytes) });
      } catch (err) {
        if (!(err instanceof OffsetOutOfRangeError)) throw err;
        out.push({
          topic: p.topic, partition: p.partition, highWatermark: log.logEndOffset, logStartOffset: log.logStartOffset, records: new Uint8Array(0),
          error: wireError('OFFSET_OUT_OF_RANGE', err.message, { logStartOffset: err.logStartOffset, logEndOffset: err.logEndOffset, offset: err.offset }),
        });
      }
    }
    return out;
  }

  private epochs(req: BodyOf<typeof Api.OffsetsForLeaderEpoch>): ResponseOf<typeof Api.OffsetsForLeaderEpoch> {
    const partitions = req.partitions.map((p): EpochEndOffsetResult => {
      const { replica, error } = this.check(p.topic, p.partition, p.currentLeaderEpoch);
      if (!replica) return { topic: p.topic, partition: p.partition, error: error!, leaderEpoch: -1, endOffset: -1 };
      const end = replica.log.endOffsetForEpoch(p.leaderEpoch);
      return { topic: p.topic, partition: p.partition, leaderEpoch: end.epoch, endOffset: end.endOffset };
    });
    return { id: 0, partitions };
  }
}

/** One connection to a FakeLeader. */
class FakeLink implements BrokerLink {
  closed = false;
  private readonly inflight = new Set<(err: Error) => void>();

  constructor(private readonly leader: FakeLeader) {}

  request<A extends ApiKey>(api: A, body: BodyOf<A>, timeoutMs = 30_000): Promise<ResponseOf<A>> {
    if (this.closed) return Promise.reject(new SluiceError('CLIENT_CLOSED', 'link closed'));
    return new Promise<ResponseOf<A>>((resolve, reject) => {
      let over = false;
      const fail = (err: Error) => {
        if (over) return;
        over = true;
        clearTimeout(timer);
        this.inflight.delete(fail);
        reject(err);
      };
      const timer = setTimeout(() => fail(new SluiceError('REQUEST_TIMED_OUT', `no answer within ${timeoutMs} ms`)), timeoutMs);
      this.inflight.add(fail);
      this.leader.answer(api, body, timeoutMs, () => over).then((res) => {
        if (over) return;
        over = true;
        clearTimeout(timer);
        this.inflight.delete(fail);
        resolve(res as ResponseOf<A>);
      }, fail);
    });
  }

  drop(): void {
    this.closed = true;
    for (const f of [...this.inflight]) f(new SluiceError('NETWORK_ERROR', 'connection dropped'));
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const f of [...this.inflight]) f(new SluiceError('CLIENT_CLOSED', 'link closed'));
  }
}
