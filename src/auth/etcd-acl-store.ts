/**
 * The ACLs of a cluster: one etcd key per binding (`/<clusterName>/acls/<id>`, the binding
 * as JSON), so every broker enforces the same rules. Each broker mirrors the prefix
 * (cluster/watched-prefix.ts): read once, then watched from the revision after that read, and
 * read whole again after any drop of the watch (etcd restarted, the link cut, a compaction
 * cancelled it), retried until etcd answers, so a revocation made while a broker was cut off
 * applies there as soon as it reaches etcd again. A binding added or removed through this
 * broker applies here when etcd has it, without waiting for the watch; at the others when
 * their watch delivers it (normally milliseconds).
 */
import type { Etcd3, IKeyValue } from 'etcd3';
import type { ClusterKeys } from '../cluster/keys.js';
import { WatchedPrefix } from '../cluster/watched-prefix.js';
import { aclKey, aclProblem, AclSet, binding, type AclBinding } from './acl.js';
import { checkedBindings, type AclStore } from './acl-store.js';

export class EtcdAclStore implements AclStore {
  current = AclSet.EMPTY;
  private readonly acls = new Map<string, AclBinding>();
  private watched: WatchedPrefix | undefined;

  /** `onInvalid`: a value under the prefix that is not a binding (skipped, and said). `onError`: a read after a dropped watch failed (retried). */
  private constructor(private readonly client: Etcd3, private readonly keys: ClusterKeys, private readonly onInvalid: (key: string, problem: string) => void) {}

  static async open(client: Etcd3, keys: ClusterKeys, o: { onInvalid?: (key: string, problem: string) => void; onError?: (err: Error) => void } = {}): Promise<EtcdAclStore> {
    const s = new EtcdAclStore(client, keys, o.onInvalid ?? (() => {}));
    s.watched = await WatchedPrefix.open(client, keys.aclsPrefix, {
      reset: (kvs) => {
        s.acls.clear();
        for (const kv of kvs) s.apply(kv, false);
        s.rebuild();
      },
      put: (kv) => { s.apply(kv, false); s.rebuild(); },
      delete: (kv) => { s.apply(kv, true); s.rebuild(); },
    }, o.onError);
    return s;
  }

  /** Full reads of the prefix so far (the first, and one per dropped watch). */
  get reads(): number {
    return this.watched?.reads ?? 0;
  }

  async add(bindings: readonly AclBinding[]): Promise<void> {
    const checked = checkedBindings(bindings);
    if (checked.length === 0) return;
    // One put per binding: each is idempotent, so a retry after a partial failure is harmless.
    await Promise.all(checked.map((b) => this.client.put(this.keyOf(b)).value(JSON.stringify(b))));
    for (const b of checked) this.acls.set(aclKey(b), b);
    this.rebuild();
  }

  async remove(bindings: readonly AclBinding[]): Promise<boolean[]> {
    const out = await Promise.all(bindings.map(async (b) => Number((await this.client.delete().key(this.keyOf(b))).deleted) > 0));
    for (const b of bindings) this.acls.delete(aclKey(b));
    this.rebuild();
    return out;
  }

  async close(): Promise<void> {
    await this.watched?.close();
  }

  /** The key of a binding: its identity, escaped, so any principal or resource name fits. */
  private keyOf(b: AclBinding): string {
    return this.keys.acl(encodeURIComponent(aclKey(b)));
  }

  private apply(kv: IKeyValue, deleted: boolean): void {
    const key = kv.key.toString();
    const id = safeDecode(key.slice(this.keys.aclsPrefix.length));
    if (deleted) {
      this.acls.delete(id);
      return;
    }
    let v: unknown;
    try {
      v = JSON.parse(kv.value.toString());
    } catch {
      v = undefined;
    }
    const problem = aclProblem(v);
    if (problem !== undefined) return this.onInvalid(key, problem);
    const b = binding(v as AclBinding);
    this.acls.set(aclKey(b), b);
  }

  private rebuild(): void {
    this.current = new AclSet(this.acls.values());
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
