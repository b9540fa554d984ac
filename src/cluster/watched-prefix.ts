/**
 * An etcd prefix kept in memory: read whole, then watched from the revision after that read
 * (no change falls between). For the small sets every broker enforces (ACLs, client quotas),
 * where a change missed is a rule not applied without bound: a revoked right still granted.
 *
 * The watch is never trusted to resume by itself. When its stream drops (etcd restarted, the
 * link cut) or etcd cancels it (its revision compacted away), the prefix is read whole again
 * and a new watch started from that read, retried with backoff until etcd answers. etcd3's
 * own resume is not enough: on reconnect it moves the watch's start revision to the revision
 * of etcd's "created" answer before the missed events arrive, so a second drop in between
 * skips them for good. A full read of a few hundred keys per reconnect is cheap.
 *
 * Events of a watch that was replaced are ignored: they could apply a change older than the
 * read that replaced it. Until the read after a drop succeeds, the mirror keeps what it last
 * knew (a broker cut off from etcd cannot learn a change), and each failed read is reported.
 */
import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import { revision } from './keys.js';

export interface PrefixMirror {
  /** The prefix as read at one revision: replaces everything known before. */
  reset(kvs: readonly IKeyValue[]): void;
  put(kv: IKeyValue): void;
  delete(kv: IKeyValue): void;
}

/** First retry of a failed read; doubles up to RETRY_MAX_MS. */
const RETRY_MS = 100;
const RETRY_MAX_MS = 5_000;
/** A read etcd does not answer in this long fails (and is retried): grpc has no deadline by default, and a hung read would stop the retries. */
const READ_DEADLINE_MS = 10_000;

export class WatchedPrefix {
  private watcher: Watcher | undefined;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Full reads done (the first included): a test's and an operator's count of resyncs. */
  reads = 0;

  private constructor(
    private readonly client: Etcd3, private readonly prefix: string, private readonly mirror: PrefixMirror,
    private readonly onError: (err: Error) => void,
  ) {}

  /** Reads `prefix` into `mirror` and watches it; rejects when the first read fails (start-up decides). */
  static async open(client: Etcd3, prefix: string, mirror: PrefixMirror, onError: (err: Error) => void = () => {}): Promise<WatchedPrefix> {
    const w = new WatchedPrefix(client, prefix, mirror, onError);
    await w.sync();
    return w;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    const w = this.watcher;
    this.watcher = undefined;
    await w?.cancel();
  }

  private async sync(): Promise<void> {
    const res = await this.client.getAll().prefix(this.prefix).options({ deadline: Date.now() + READ_DEADLINE_MS }).exec();
    this.reads++;
    if (this.closed) return;
    this.mirror.reset(res.kvs);
    const w = await this.client.watch().prefix(this.prefix).startRevision(String(revision(res.header.revision) + 1)).create();
    if (this.closed) {
      await w.cancel();
      return;
    }
    this.watcher = w;
    w.on('put', (kv) => { if (this.watcher === w) this.mirror.put(kv); });
    w.on('delete', (kv) => { if (this.watcher === w) this.mirror.delete(kv); });
    // A drop or a cancel (compaction): read again rather than trust the watch's resume.
    w.on('disconnected', () => { this.restart(w); });
    w.on('error', () => { this.restart(w); });
  }

  /** Replaces `w` (if still current) by a fresh read and watch, retried until one succeeds. */
  private restart(w: Watcher): void {
    if (this.closed || this.watcher !== w) return;
    this.watcher = undefined;
    w.cancel().catch(() => {}); // its stream may be gone already
    let delay = RETRY_MS;
    const attempt = (): void => {
      this.retryTimer = undefined;
      if (this.closed) return;
      this.sync().catch((err: unknown) => {
        this.onError(err as Error);
        if (this.closed) return;
        this.retryTimer = setTimeout(attempt, delay);
        this.retryTimer.unref();
        delay = Math.min(delay * 2, RETRY_MAX_MS);
      });
    };
    attempt();
  }
}
