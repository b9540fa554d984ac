/**
 * Which broker is the controller now, as every broker needs to know it (Metadata's
 * `controllerId`, where to forward a topic change): the candidate key under `controller/`
 * with the lowest create revision (controller-election.ts). Read once, then re-read after
 * every change under the prefix, seen through a watch that starts right after the first read.
 */
import { EventEmitter } from 'node:events';
import type { Etcd3, Watcher } from 'etcd3';
import { CoalescedTask } from './coalesced-task.js';
import type { ClusterKeys } from './keys.js';
import { revision } from './keys.js';

type TrackerEvents = { change: [number | undefined]; error: [Error] };

export class ControllerTracker extends EventEmitter<TrackerEvents> {
  private id: number | undefined;
  private watcher: Watcher | undefined;
  private closed = false;
  /** Re-reads, coalescing changes that arrive during a read into one more read. */
  private readonly reread = new CoalescedTask(async () => {
    try {
      await this.read();
    } catch (err) {
      this.emit('error', err as Error);
    }
    return true;
  }, () => !this.closed);

  private constructor(private readonly client: Etcd3, private readonly keys: ClusterKeys) {
    super();
  }

  static async open(client: Etcd3, keys: ClusterKeys): Promise<ControllerTracker> {
    const t = new ControllerTracker(client, keys);
    const rev = await t.read();
    t.watcher = await client.watch().prefix(keys.controllerPrefix).startRevision(String(rev + 1)).create();
    t.watcher.on('put', () => { t.reread.kick(); });
    t.watcher.on('delete', () => { t.reread.kick(); });
    // A cancelled watch (compaction while cut off) would leave the id stale: read again and keep watching from now.
    t.watcher.on('error', (err) => { t.emit('error', err); t.reread.kick(); });
    return t;
  }

  /** The controller's node id, or undefined while there is none (an election in progress). */
  get current(): number | undefined {
    return this.id;
  }

  async close(): Promise<void> {
    this.closed = true;
    const w = this.watcher;
    this.watcher = undefined;
    await w?.cancel();
  }

  private async read(): Promise<number> {
    const res = await this.client.getAll().prefix(this.keys.controllerPrefix).sort('Create', 'Ascend').limit(1).exec();
    const kv = res.kvs[0];
    const next = kv === undefined ? undefined : Number(kv.value.toString());
    if (next !== this.id) {
      this.id = next;
      this.emit('change', next);
    }
    return revision(res.header.revision);
  }
}
