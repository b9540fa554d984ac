/**
 * Storage throughput: appends 1,000,000 records of 100 bytes (batches of 1,000, encoded
 * before timing) to one partition log in a temp dir, then reads them all back with
 * sequential 1 MiB reads. Runs twice: durable appends (8 in flight, so group commit
 * applies) and interval flushing (flushMs 1000). Prints one JSON line per mode, then a table.
 *
 *   node --import tsx bench/storage.ts [records=1000000]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeBatch, type RecordInput } from '../src/record/index.js';
import { DiskPartitionLog } from '../src/storage/partition-log.js';
import { effectiveConfig } from '../src/storage/log-config.js';

const TOTAL = Number(process.argv[2] ?? 1_000_000);
const PER_BATCH = 1000;
const VALUE = 100;
const IN_FLIGHT = 16;
const READ_BYTES = 1 << 20;

function encodeAll(): Buffer[] {
  const value = Buffer.alloc(VALUE, 0x61);
  const recs: RecordInput[] = Array.from({ length: PER_BATCH }, () => ({ value }));
  const out: Buffer[] = [];
  for (let i = 0; i < TOTAL / PER_BATCH; i++) out.push(encodeBatch(recs, { now: 1_700_000_000_000 + i }));
  return out;
}

async function run(mode: 'durable' | 'interval') {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-'));
  try {
    const batches = encodeAll();
    const bytes = batches.reduce((n, b) => n + b.length, 0);
    const log = await DiskPartitionLog.open(dir, 'bench', 0, effectiveConfig({ flushMs: 1000 }));
    const durable = mode === 'durable';
    let t0 = process.hrtime.bigint();
    let next = 0;
    const worker = async () => {
      while (next < batches.length) await log.append(batches[next++], { durable });
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    const appendS = Number(process.hrtime.bigint() - t0) / 1e9;
    const fsyncs = log.stats().fsyncCount;

    t0 = process.hrtime.bigint();
    let offset = 0;
    let readBytes = 0;
    while (offset < log.logEndOffset) {
      const { bytes: b } = await log.read(offset, READ_BYTES);
      readBytes += b.length;
      // Next offset from the last batch header: base offset (i64 at 0) + lastOffsetDelta (i32 at 23) + 1.
      let pos = 0;
      let last = offset;
      while (pos < b.length) {
        last = Number(b.readBigInt64BE(pos)) + b.readInt32BE(pos + 23);
        pos += b.readInt32BE(pos + 8) + 12;
      }
      offset = last + 1;
    }
    const readS = Number(process.hrtime.bigint() - t0) / 1e9;
    if (readBytes !== bytes) throw new Error(`read ${readBytes} bytes, wrote ${bytes}`);
    await log.close();
    const mb = bytes / 1e6;
    return {
      mode,
      append_msgs_s: Math.round(TOTAL / appendS),
      append_mb_s: +(mb / appendS).toFixed(1),
      read_msgs_s: Math.round(TOTAL / readS),
      read_mb_s: +(mb / readS).toFixed(1),
      fsyncs,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const results = [];
for (const mode of ['durable', 'interval'] as const) {
  const r = await run(mode);
  console.log(JSON.stringify(r));
  results.push(r);
}
console.log('\nmode      append msg/s  append MB/s   read msg/s    read MB/s  fsyncs');
for (const r of results) {
  console.log(`${r.mode.padEnd(9)} ${String(r.append_msgs_s).padStart(12)} ${String(r.append_mb_s).padStart(12)} ${String(r.read_msgs_s).padStart(12)} ${String(r.read_mb_s).padStart(12)} ${String(r.fsyncs).padStart(7)}`);
}
