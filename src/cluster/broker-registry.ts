/**
 * Broker membership: each broker puts `brokers/<nodeId>` on its session lease, and every
 * broker watches the prefix to know who is alive. The key vanishes with the lease, so
 * "alive" means "its lease lives", as etcd's Raft decides.
 */
import { EventEmitter } from 'node:events';
import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import type { EtcdSession } from './etcd-session.js';
import { NodeIdInUseError } from './errors.js';
import type { ClusterKeys } from './keys.js';
import { revision } from './keys.js';

export interface BrokerInfo {
  nodeId: number;
  /** What clients and other brokers dial (the advertisedUrl setting). */
  url: string;
  /** Wall-clock ms when this broker registered; tells a restarted broker from its previous life. */
  startedAt: number;
}

/** A registration as etcd holds it. */
export interface Registration {
  /** The etcd revision at which the registration is in etcd (ClusterNode.viewCaughtUp compares the view with it). */
  readonly revision: number;
  /** The broker epoch of this life (KIP-380): the create revision of `brokers/<id>` (BrokerDirectory.epochs). */
  readonly epoch: number;
}

/**
 * Registers this broker. A key already held by another lease is either a live broker with the
 * same id (a configuration error) or this broker's previous life, killed less than a TTL ago:
 * wait up to `waitMs` (default: the session TTL plus a second) for that key to vanish.
 */
export async function registerBroker(
  client: Etcd3, keys: ClusterKeys, session: EtcdSession, info: BrokerInfo, waitMs = session.ttlSeconds * 1000 + 1000,
): Promise<Registration> {
  const key = keys.broker(info.nodeId);
  const deadline = Date.now() + waitMs;
  for (;;) {
    const res = await client.if(key, 'Create', '==', 0)
      .then(client.put(key).value(JSON.stringify(info)).lease(session.leaseId))
      .else(client.get(key))
      .commit();
    // The put created the key: its create revision is the transaction's.
    if (res.succeeded) return { revision: revision(res.header.revision), epoch: revision(res.header.revision) };
    const held = res.responses[0]?.response_range.kvs[0];
    if (held === undefined) continue; // it vanished between the compare and the get
    if (held.lease === session.leaseId) return { revision: revision(res.header.revision), epoch: revision(held.create_revision) }; // ours already (a retried call)
    const left = deadline - Date.now();
    if (left <= 0) throw new NodeIdInUseError(info.nodeId, describe(held));
    await waitForDelete(client, key, revision(res.header.revision) + 1, left);
  }
}

function describe(kv: IKeyValue): string {
  try {
    const v = JSON.parse(kv.value.toString()) as Partial<BrokerInfo>;
    return `url ${String(v.url)}, lease ${kv.lease}`;
  } catch {
    return `lease ${kv.lease}`;
  }
}

/** Resolves when `key` is deleted at or after `fromRevision`, or after `ms`. */
async function waitForDelete(client: Etcd3, key: string, fromRevision: number, ms: number): Promise<void> {
  const watcher = await client.watch().key(key).startRevision(String(fromRevision)).create();
  try {
    await new Promise<void>((resolveP) => {
      const timer = setTimeout(resolveP, ms);
      watcher.once('delete', () => { clearTimeout(timer); resolveP(); });
    });
  } finally {
    await watcher.cancel();
  }
}

type DirectoryEvents = { change: [ReadonlyMap<number, BrokerInfo>]; error: [Error] };

/**
 * The live brokers, as etcd sees them: read once, then kept current by a watch that starts at
 * the revision after that read, so no change falls between the two.
 */
export class BrokerDirectory extends EventEmitter<DirectoryEvents> {
  private readonly live = new Map<number, BrokerInfo>();
  /** Each live broker's epoch (KIP-380): the create revision of its `brokers/<id>` key. */
  private readonly liveEpochs = new Map<number, number>();
  private watcher: Watcher | undefined;

  private constructor(private readonly keys: ClusterKeys, private readonly onInvalid: (key: string, err: Error) => void) {
    super();
  }

  /**
   * `onInvalid` hears of each value under the brokers prefix that is not a broker's record
   * (skipped), from the first read on: a callback rather than an event, so the values present
   * at open are not emitted before anyone listens.
   */
  static async open(client: Etcd3, keys: ClusterKeys, onInvalid: (key: string, err: Error) => void = () => {}): Promise<BrokerDirectory> {
    const dir = new BrokerDirectory(keys, onInvalid);
    const res = await client.getAll().prefix(keys.brokersPrefix).exec();
    for (const kv of res.kvs) dir.apply(kv, false);
    dir.watcher = await client.watch().prefix(keys.brokersPrefix)
      .startRevision(String(revision(res.header.revision) + 1)).create();
    dir.watcher.on('put', (kv) => { dir.apply(kv, false); });
    dir.watcher.on('delete', (kv) => { dir.apply(kv, true); });
    dir.watcher.on('error', (err) => { dir.emit('error', err); });
    return dir;
  }

  brokers(): ReadonlyMap<number, BrokerInfo> {
    return this.live;
  }

  /**
   * Each live broker's **broker epoch** (Kafka's KIP-380): the etcd create revision of its
   * registration key. Every registration creates the key anew (a restarted process, or one
   * that re-registered after losing its session), so a new epoch means a new life of that
   * broker, even when it came back before anybody saw it gone; keep-alives never change it.
   */
  epochs(): ReadonlyMap<number, number> {
    return this.liveEpochs;
  }

  async close(): Promise<void> {
    const w = this.watcher;
    this.watcher = undefined;
    await w?.cancel();
  }

  private apply(kv: IKeyValue, deleted: boolean): void {
    const nodeId = Number(kv.key.toString().slice(this.keys.brokersPrefix.length));
    if (!Number.isInteger(nodeId)) return;
    if (deleted) {
      this.liveEpochs.delete(nodeId);
      if (!this.live.delete(nodeId)) return;
    } else {
      let info: BrokerInfo;
      try {
        info = JSON.parse(kv.value.toString()) as BrokerInfo;
      } catch (err) {
        this.onInvalid(kv.key.toString(), err as Error); // not written by a broker: skipped, but said
        return;
      }
      this.live.set(nodeId, info);
      this.liveEpochs.set(nodeId, revision(kv.create_revision));
    }
    if (this.watcher !== undefined || deleted) this.emit('change', this.live);
  }
}
