/**
 * The client quotas of a cluster: one etcd key per entity and quota
 * (`/<clusterName>/quotas/<entity key>/<quota name>`, the rate as decimal text), so two
 * admins changing different quotas of one entity through different brokers never overwrite
 * each other. Every broker mirrors the prefix in memory (cluster/watched-prefix.ts: read at
 * start-up, watched from the revision after that read, read whole again after any drop of the
 * watch): a quota set through any broker applies at every broker within a watch round trip,
 * no restart, and one set while a broker was cut off from etcd once it reaches etcd again.
 * A value that does not parse (written by hand) is skipped and said through `onInvalid`.
 */
import type { Etcd3, IKeyValue } from 'etcd3';
import type { ClusterKeys } from '../cluster/keys.js';
import { WatchedPrefix } from '../cluster/watched-prefix.js';
import type { ClientQuotaValues } from '../protocol/api.js';
import { QUOTA_NAMES, setQuotas, type QuotaEntity, type QuotaName } from '../protocol/client-quota.js';
import { altered, checkAlter, decodeEntityKey, decodeQuotaValues, quotaEntityKey, QuotaTable, TableQuotaStore } from './quota-store.js';

export class EtcdQuotaStore extends TableQuotaStore {
  private watched: WatchedPrefix | undefined;

  private constructor(private readonly client: Etcd3, private readonly keys: ClusterKeys, private readonly onInvalid: (key: string, err: Error) => void) {
    super(new QuotaTable());
  }

  /** `onInvalid`: a value that does not parse (skipped). `onError`: a read after a dropped watch failed (retried). */
  static async open(
    client: Etcd3, keys: ClusterKeys, onInvalid: (key: string, err: Error) => void = () => {}, onError: (err: Error) => void = () => {},
  ): Promise<EtcdQuotaStore> {
    const s = new EtcdQuotaStore(client, keys, onInvalid);
    s.watched = await WatchedPrefix.open(client, keys.quotasPrefix, {
      reset: (kvs) => {
        s.table.clear();
        for (const kv of kvs) s.apply(kv, false);
        s.table.changed();
      },
      put: (kv) => { s.apply(kv, false); s.table.changed(); },
      delete: (kv) => { s.apply(kv, true); s.table.changed(); },
    }, onError);
    return s;
  }

  /**
   * One write per quota (each its own key, so there is nothing to read first). The table takes
   * the change at once, so a list through this broker shows it; the watch then brings the
   * same change again (harmless) and every other broker's.
   */
  async alter(entity: QuotaEntity, set: ClientQuotaValues, remove: readonly QuotaName[]): Promise<void> {
    checkAlter(entity, set);
    const key = quotaEntityKey(entity);
    await Promise.all([
      ...setQuotas(set).map(async ([n, rate]) => { await this.client.put(this.keys.quota(key, n)).value(String(rate)); }),
      ...remove.map(async (n) => { await this.client.delete().key(this.keys.quota(key, n)); }),
    ]);
    this.table.put(key, altered(this.table.get(key), set, remove));
    this.table.changed();
  }

  async close(): Promise<void> {
    await this.watched?.close(); // the etcd client is the broker's
  }

  private apply(kv: IKeyValue, deleted: boolean): void {
    const full = kv.key.toString();
    const rest = full.slice(this.keys.quotasPrefix.length);
    const at = rest.lastIndexOf('/');
    try {
      const key = decodeEntityKey(rest.slice(0, at), full);
      const name = rest.slice(at + 1) as QuotaName;
      if (!(QUOTA_NAMES as readonly string[]).includes(name)) throw new Error(`${full}: unknown quota ${JSON.stringify(name)}`);
      const now = this.table.get(key);
      if (deleted) this.table.put(key, altered(now, {}, [name]));
      else this.table.put(key, altered(now, decodeQuotaValues({ [name]: Number(kv.value.toString()) }, full), []));
    } catch (err) {
      this.onInvalid(full, err as Error);
    }
  }
}
