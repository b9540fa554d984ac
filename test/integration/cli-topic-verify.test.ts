/**
 * `sluice topic verify` against a good and a damaged topic, offline (--data-dir, no broker,
 * nothing written) and through the broker (VerifyTopic api): output names each problem with
 * its offset, segment and byte; exit 0 when intact, 2 when corrupt, 1 when it cannot check.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startBroker } from './harness.js';
import { RawClient } from './raw-client.js';
import { runCli } from './cli-process.js';
import { batchOf, createTopic, produce } from './broker-helpers.js';
import { BATCH_LENGTH, LOG_OVERHEAD, RECORDS } from '../../src/record/index.js';

async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.set(join(e.parentPath ?? e.path, e.name), (await readFile(join(e.parentPath ?? e.path, e.name))).toString('base64'));
  }
  return out;
}

test('sluice topic verify: offline and through the broker, on a good and a corrupt topic', async () => {
  const broker = await startBroker();
  try {
    const c = await RawClient.connect(broker.url);
    await createTopic(c, 'good', 2);
    await createTopic(c, 'bad', 1, { indexIntervalBytes: 100 });
    for (let i = 0; i < 10; i++) {
      await produce(c, 'good', i % 2, batchOf([`g${i}`, `h${i}`]));
      await produce(c, 'bad', 0, batchOf([`b${i}`, `c${i}`, `d${i}`]));
    }
    c.close();

    let r = await runCli(broker.url, ['topic', 'verify', 'good']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^good\/0 {2}OK {2}1 segment, 5 batches, 10 records, /m);
    assert.match(r.stdout, /^good\/1 {2}OK {2}1 segment, 5 batches, 10 records, /m);
    assert.match(r.stderr, /verified 2 partitions of 1 topic through .*: no problems/);

    assert.equal(await broker.stop(), 0);
    // A flipped bit inside batch 3's records: only a CRC check can see it.
    const seg = join(broker.dataDir, 'bad-0', '00000000000000000000.log');
    const bytes = await readFile(seg);
    let at = 0;
    for (let i = 0; i < 3; i++) at += bytes.readInt32BE(at + BATCH_LENGTH) + LOG_OVERHEAD;
    const fh = await open(seg, 'r+');
    await fh.write(Buffer.from([bytes[at + RECORDS + 4] ^ 0x08]), 0, 1, at + RECORDS + 4);
    await fh.close();

    // Offline: no broker running, and the data dir is left exactly as it was.
    const before = await snapshot(broker.dataDir);
    r = await runCli('ws://127.0.0.1:1', ['topic', 'verify', 'bad', '--data-dir', broker.dataDir]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stdout, /^bad\/0 {2}CORRUPT {2}1 problem \(1 segment, 10 batches, 30 records, /m);
    const line = new RegExp(`^ {2}offset 9: segment 0, byte ${at}: CRC-32C stored 0x[0-9a-f]+, computed 0x[0-9a-f]+$`, 'm');
    assert.match(r.stdout, line);
    assert.match(r.stderr, /1 partition not intact \(1 problem\)/);
    r = await runCli('ws://127.0.0.1:1', ['topic', 'verify', 'good', '--data-dir', broker.dataDir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^good\/1 {2}OK/m);
    r = await runCli('ws://127.0.0.1:1', ['topic', 'verify', '--data-dir', broker.dataDir]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stdout, /^good\/0 {2}OK/m);
    assert.match(r.stdout, /^bad\/0 {2}CORRUPT/m);
    r = await runCli('ws://127.0.0.1:1', ['topic', 'verify', 'nope', '--data-dir', broker.dataDir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unknown topic 'nope'/);
    assert.deepEqual(await snapshot(broker.dataDir), before, 'offline verify wrote nothing');

    // Through the broker (after a clean restart, which does not scan for CRC damage).
    await broker.restart();
    r = await runCli(broker.url, ['topic', 'verify', 'bad']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stdout, line);
    r = await runCli(broker.url, ['topic', 'verify']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stdout, /^good\/0 {2}OK/m);
    assert.match(r.stdout, /^bad\/0 {2}CORRUPT/m);
    assert.match(r.stderr, /verified 3 partitions of 2 topics/);
    r = await runCli(broker.url, ['topic', 'verify', 'nope']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /UNKNOWN_TOPIC_OR_PARTITION: topic 'nope' does not exist/);
    assert.match(broker.logs(), /"level":"error","event":"storage.verify.corrupt"/);
  } finally {
    await broker.stop();
  }
});
