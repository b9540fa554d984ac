/**
 * The ACLs of a cluster: one etcd key per binding (`/<clusterName>/acls/<id>`, the binding
 * as JSON), so every broker enforces the same rules. Each broker reads the prefix once, then
 * keeps its in-memory set current with a watch from the revision after that read (no change
 * falls between them; cluster/cluster-view.ts does the same for topics). A watch etcd cancels
 * (compaction while disconnected) is replaced by a fresh read and watch. A binding added or
 * removed through this broker applies here when etcd has it, without waiting for the watch;
 * at the others when their watch delivers it (normally milliseconds).
 */
import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import type { ClusterKeys } from '../cluster/keys.js';
import { revision } from '../cluster/keys.js';
import { aclKey, aclProblem, AclSet, binding, type AclBinding } from './acl.js';
import { checkedBindings, type AclStore } from './acl-store.js';

export class EtcdAclStore implements AclStore {
  current = AclSet.EMPTY;
  private readonly acls = new Map<string, AclBinding>();
  private watcher: Watcher | undefined;
  private closed = false;

  /** `onInvalid`: a value under the prefix that is not a binding (skipped, and said). `onError`: the watch could not be restarted. */
  private constructor(
    private readonly client: Etcd3, private readonly keys: ClusterKeys,
    private readonly onInvalid: (key: string, problem: string) => void, private readonly onError: (err: Error) => void,
  ) {}

  static async open(client: Etcd3, keys: ClusterKeys, o: { onInvalid?: (key: string, problem: string) => void; onError?: (err: Error) => void } = {}): Promise<EtcdAclStore> {
    const s = new EtcdAclStore(client, keys, o.onInvalid ?? (() => {}), o.onError ?? (() => {}));
    await s.sync();
    return s;
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
    this.closed = true;
    const w = this.watcher;
    this.watcher = undefined;
    await w?.cancel();
  }

  /** The key of a binding: its identity, escaped, so any principal or resource name fits. */
  private keyOf(b: AclBinding): string {
    return this.keys.acl(encodeURIComponent(aclKey(b)));
  }

  private async sync(): Promise<void> {
    const res = await this.client.getAll().prefix(this.keys.aclsPrefix).exec();
    this.acls.clear();
    for (const kv of res.kvs) this.apply(kv, false);
    this.rebuild();
    if (this.closed) return;
    const w = await this.client.watch().prefix(this.keys.aclsPrefix).startRevision(String(revision(res.header.revision) + 1)).create();
    this.watcher = w;
    w.on('put', (kv) => { this.apply(kv, false); this.rebuild(); });
    w.on('delete', (kv) => { this.apply(kv, true); this.rebuild(); });
    w.on('error', () => {
      if (this.closed || this.watcher !== w) return;
      this.watcher = undefined;
      this.sync().catch((err: unknown) => { this.onError(err as Error); });
    });
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
