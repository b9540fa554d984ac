/**
 * Retention runs on its own timer, not in a partition's append queue, so it can delete the
 * first segments while a truncation (a follower meeting a new leader) rebuilds the producer
 * state by replaying the log from its start. The replay must still see every segment that is
 * left: a segment it skipped takes its producers' sequences with it, and a retry of one of
 * their batches is then stored a second time instead of answered as a duplicate.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { basename } from 'node:path';
import { encodeBatch } from '../../src/record/index.js';
import { DiskPartitionLog } from '../../src/storage/partition-log.js';
import { effectiveConfig } from '../../src/storage/log-config.js';
import { nodeFileSystem, type FileSystem, type StorageFile } from '../../src/storage/file-system.js';
import { tempDir } from './helpers.js';

/** One segment per batch; time retention of 1 s, run by hand with a chosen clock. */
const CFG = effectiveConfig({ segmentBytes: 1, retentionMs: 1000 });
const OLD = 1_700_000_000_000;
const NEW = OLD + 60_000;

function pbatch(pid: number, seq: number, ts: number): Buffer {
  return encodeBatch([{ value: `p${pid}s${seq}`, timestamp: ts }, { value: `p${pid}s${seq + 1}`, timestamp: ts }], { producerId: pid, producerEpoch: 0, baseSequence: seq, now: ts });
}

/** node:fs, with reads of one file held at a gate once `armed` names it. */
class GatedFs {
  armed: string | undefined;
  reached!: Promise<void>;
  private arrive!: () => void;
  private gate!: Promise<void>;
  open!: () => void;
  readonly fs: FileSystem;

  constructor() {
    this.reset();
    const base = nodeFileSystem;
    this.fs = {
      ...base,
      open: async (path, flags) => this.wrap(path, await base.open(path, flags)),
    };
  }

  private reset(): void {
    this.reached = new Promise((r) => { this.arrive = r; });
    this.gate = new Promise((r) => { this.open = r; });
  }

  private wrap(path: string, fh: StorageFile): StorageFile {
    return {
      read: async (buffer, offset, length, position) => {
        if (this.armed === basename(path)) {
          this.armed = undefined;
          this.arrive();
          await this.gate;
        }
        return fh.read(buffer, offset, length, position);
      },
      write: (b, o, l, p) => fh.write(b, o, l, p),
      writev: (bs, p) => fh.writev(bs, p),
      truncate: (n) => fh.truncate(n),
      sync: () => fh.sync(),
      datasync: () => fh.datasync(),
      stat: () => fh.stat(),
      close: () => fh.close(),
    };
  }
}

test('retention deleting the first segment while a truncation replays the producer state: no segment left is skipped', async (t) => {
  const { dir, cleanup } = await tempDir();
  const gated = new GatedFs();
  let log: DiskPartitionLog | undefined;
  t.after(async () => {
    gated.open();
    await log?.close().catch(() => {});
    await cleanup();
  });
  const first = await DiskPartitionLog.open(dir, 't', 0, CFG, { fs: gated.fs });
  await first.append(pbatch(1, 0, OLD)); // offsets 0-1, segment 0: past retention
  await first.append(pbatch(7, 0, NEW)); // 2-3, segment 2: producer 7's only batch
  await first.append(pbatch(1, 2, NEW)); // 4-5
  await first.append(pbatch(1, 4, NEW)); // 6-7
  await first.close(); // producer snapshot at 8
  log = await DiskPartitionLog.open(dir, 't', 0, CFG, { fs: gated.fs });

  // Truncating below the snapshot replays from the log start, segment 0 first: hold that read.
  gated.armed = '00000000000000000000.log';
  const truncated = log.truncateTo(6);
  await gated.reached;
  assert.equal(await log.enforceRetention(NEW + 500), 1, 'retention deletes segment 0 meanwhile');
  gated.open();
  assert.equal(await truncated, 6);

  const retry = await log.append(pbatch(7, 0, NEW));
  assert.deepEqual([retry.baseOffset, retry.duplicate], [2, true], 'producer 7\'s retry is answered from its stored batch, not stored again');
});
