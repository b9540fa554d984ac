import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { openLogManager, type LogManagerOptions } from '../../src/storage/log-manager.js';
import { DiskPartitionLog } from '../../src/storage/partition-log.js';
import { effectiveConfig } from '../../src/storage/log-config.js';
import { validateTopicName } from '../../src/storage/topic-name.js';
import {
  InvalidConfigError, InvalidPartitionsError, StorageError, TopicExistsError, UnknownTopicError,
} from '../../src/storage/errors.js';
import { InvalidTopicError } from '../../src/errors.js';
import { batchOf, recordsIn, tempDir } from './helpers.js';

test('topics are created, listed, persisted across restart, grown and deleted', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    let mgr = await openLogManager(dir, {}, { retentionCheckMs: 0 });
    const info = await mgr.createTopic('orders', 2, { segmentBytes: 4096 });
    assert.equal(info.partitions, 2);
    await assert.rejects(mgr.createTopic('orders', 1), TopicExistsError);
    assert.equal(mgr.log('orders', 0)!.config.segmentBytes, 4096);
    assert.equal(mgr.log('orders', 2), undefined);
    assert.equal(mgr.log('nope', 0), undefined);
    await mgr.log('orders', 1)!.append(batchOf(5, 0));
    await mgr.close();

    mgr = await openLogManager(dir, {}, { retentionCheckMs: 0 });
    assert.deepEqual(mgr.topics().map((t) => [t.name, t.partitions, t.config]), [['orders', 2, { segmentBytes: 4096 }]]);
    assert.equal(mgr.log('orders', 1)!.logEndOffset, 5);
    assert.deepEqual(recordsIn((await mgr.log('orders', 1)!.read(0, 1000)).bytes).map((r) => r.value), ['v0', 'v1', 'v2', 'v3', 'v4']);
    assert.equal((await mgr.addPartitions('orders', 4)).partitions, 4);
    await assert.rejects(mgr.addPartitions('orders', 3), InvalidPartitionsError);
    await assert.rejects(mgr.addPartitions('nope', 3), UnknownTopicError);
    assert.ok(mgr.log('orders', 3));
    await mgr.close();

    mgr = await openLogManager(dir, {}, { retentionCheckMs: 0 });
    assert.equal(mgr.topic('orders')!.partitions, 4);
    await mgr.deleteTopic('orders');
    await assert.rejects(mgr.deleteTopic('orders'), UnknownTopicError);
    assert.equal(mgr.topic('orders'), undefined);
    assert.deepEqual((await readdir(dir)).filter((f) => f.startsWith('orders')), []);
    // A re-created topic starts empty.
    await mgr.createTopic('orders', 1);
    assert.equal(mgr.log('orders', 0)!.logEndOffset, 0);
    await mgr.close();
    const saved = JSON.parse(await readFile(join(dir, 'topics.json'), 'utf8'));
    assert.deepEqual(saved.topics.map((t: { name: string }) => t.name), ['orders']);
  } finally {
    await cleanup();
  }
});

test('hostile topic names are rejected and nothing is created outside the data dir', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const data = join(dir, 'data');
    const mgr = await openLogManager(data, {}, { retentionCheckMs: 0 });
    for (const name of ['../x', '.', '..', 'a/b', '', 'x'.repeat(250), 'a\\b', 'a b', 'é', '../../etc', '\0']) {
      await assert.rejects(mgr.createTopic(name, 1), InvalidTopicError, JSON.stringify(name));
      assert.throws(() => validateTopicName(name), InvalidTopicError);
    }
    assert.doesNotThrow(() => validateTopicName('x'.repeat(249)));
    assert.doesNotThrow(() => validateTopicName('a.b_c-D9'));
    assert.deepEqual(await readdir(dir), ['data']);
    assert.deepEqual(await readdir(data), []);
    await assert.rejects(stat(join(dirname(dir), 'x-0')));
    await mgr.close();
  } finally {
    await cleanup();
  }
});

test('bad partition counts and config values are typed errors naming the problem', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const mgr = await openLogManager(dir, {}, { retentionCheckMs: 0 });
    for (const n of [0, -1, 1.5, NaN, 100_001, '2' as unknown as number]) {
      await assert.rejects(mgr.createTopic('t', n), InvalidPartitionsError);
    }
    const bad: [string, unknown][] = [
      ['segmentBytes', -1], ['segmentBytes', '100'], ['retentionMs', -2], ['indexIntervalBytes', 1.5],
      ['flushMs', null], ['bogusKey', 1], ['segmentBytes', 2 ** 32],
    ];
    for (const [key, value] of bad) {
      await assert.rejects(mgr.createTopic('t', 1, { [key]: value } as never), (err: Error) => {
        assert.ok(err instanceof InvalidConfigError);
        assert.match(err.message, new RegExp(key));
        return true;
      });
    }
    await assert.rejects(openLogManager(dir, { flushMessages: 0 }), InvalidConfigError);
    assert.deepEqual(mgr.topics(), []);
    assert.deepEqual((await readdir(dir)).filter((f) => f !== 'topics.json'), []);
    await mgr.close();
  } finally {
    await cleanup();
  }
});

/**
 * Fails opening partition `k` the way running out of file descriptors does: after its
 * directory was made, with the EMFILE error fs gives. Other partitions open for real.
 */
function failAt(k: number, topic: string): NonNullable<LogManagerOptions['openPartition']> {
  return async (dir, t, p, config, opts) => {
    if (t === topic && p === k) {
      await mkdir(dir, { recursive: true });
      throw Object.assign(new Error(`EMFILE: too many open files, open '${join(dir, '00000000000000000000.log')}'`), { code: 'EMFILE', errno: -24 });
    }
    return DiskPartitionLog.open(dir, t, p, config, opts);
  };
}

const partitionDirs = async (dir: string, topic: string) => (await readdir(dir)).filter((f) => f.startsWith(`${topic}-`));

test('a create that fails at partition k of n removes every directory it made, names the cause, and can be retried', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    let mgr = await openLogManager(dir, {}, { retentionCheckMs: 0, openPartition: failAt(6, 'big') });
    await mgr.createTopic('kept', 2);
    await assert.rejects(mgr.createTopic('big', 10), (err: Error) => {
      assert.ok(err instanceof StorageError, String(err));
      assert.match(err.message, /cannot create topic 'big': partition 6 of 10 failed: EMFILE: too many open files/);
      return true;
    });
    assert.deepEqual(await partitionDirs(dir, 'big'), []);
    assert.equal(mgr.topic('big'), undefined);
    assert.deepEqual(mgr.topics().map((t) => t.name), ['kept']);
    assert.deepEqual((await partitionDirs(dir, 'kept')).sort(), ['kept-0', 'kept-1'], 'other topics are untouched');
    await mgr.close();

    // Nothing of it after a restart either, and the same name can be created once the cause is gone.
    mgr = await openLogManager(dir, {}, { retentionCheckMs: 0 });
    assert.deepEqual(mgr.topics().map((t) => t.name), ['kept']);
    assert.equal((await mgr.createTopic('big', 10)).partitions, 10);
    await mgr.close();
  } finally {
    await cleanup();
  }
});

test('growing a topic that fails at a new partition removes the new directories and keeps the old ones', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const mgr = await openLogManager(dir, {}, { retentionCheckMs: 0, openPartition: failAt(5, 'grow') });
    await mgr.createTopic('grow', 2);
    await mgr.log('grow', 1)!.append(batchOf(3, 0));
    await assert.rejects(mgr.addPartitions('grow', 8), /cannot add partitions to 'grow': partition 5 of 8 failed: EMFILE/);
    assert.deepEqual((await partitionDirs(dir, 'grow')).sort(), ['grow-0', 'grow-1']);
    assert.equal(mgr.topic('grow')!.partitions, 2);
    assert.equal(mgr.log('grow', 1)!.logEndOffset, 3);
    assert.equal(mgr.log('grow', 2), undefined);
    await mgr.close();
  } finally {
    await cleanup();
  }
});

test('topic events: each change is told once it is durable, with the local logs already matching it; a failed change tells nothing', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const mgr = await openLogManager(dir, {}, { retentionCheckMs: 0, openPartition: failAt(2, 'broken') });
    const seen: string[] = [];
    mgr.events.on('topicCreated', (e) => {
      const saved = JSON.parse(readFileSync(join(dir, 'topics.json'), 'utf8')) as { topics: { name: string }[] };
      seen.push(`created ${e.topic} ${e.partitions} ${JSON.stringify(e.config)} log0=${mgr.log(e.topic, 0) !== undefined} listed=${mgr.topic(e.topic) !== undefined} saved=${saved.topics.some((t) => t.name === e.topic)}`);
    });
    mgr.events.on('partitionsAdded', (e) => seen.push(`added ${e.topic} ${e.from}..${e.to} log3=${mgr.log(e.topic, 3) !== undefined} count=${mgr.topic(e.topic)?.partitions}`));
    mgr.events.on('topicDeleted', (e) => seen.push(`deleted ${e.topic} ${e.partitions} log0=${mgr.log(e.topic, 0) !== undefined} listed=${mgr.topic(e.topic) !== undefined}`));
    // A listener that throws neither fails the change nor keeps the others from hearing it.
    const failures: string[] = [];
    mgr.events.onListenerError = (event, err) => failures.push(`${event}: ${(err as Error).message}`);
    const off = mgr.events.on('topicCreated', () => { throw new Error('listener bug'); });

    await mgr.createTopic('ev', 2, { segmentBytes: 4096 });
    off();
    await mgr.addPartitions('ev', 4);
    await assert.rejects(mgr.createTopic('broken', 3), StorageError);
    await assert.rejects(mgr.createTopic('ev', 1), TopicExistsError);
    await mgr.deleteTopic('ev');
    await mgr.createTopic('ev', 1);
    assert.deepEqual(seen, [
      'created ev 2 {"segmentBytes":4096} log0=true listed=true saved=true',
      'added ev 2..4 log3=true count=4',
      'deleted ev 4 log0=false listed=false',
      'created ev 1 {} log0=true listed=true saved=true',
    ]);
    assert.deepEqual(failures, ['topicCreated: listener bug']);
    await mgr.close();
  } finally {
    await cleanup();
  }
});

test('a create or a growth over directories a deleted topic of that name left behind (a crash before its files went) starts those partitions empty', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    // What a crash between removing a topic's metadata and its files leaves: partition directories with records.
    for (const p of [0, 1]) {
      const old = await DiskPartitionLog.open(join(dir, `t-${p}`), 't', p, effectiveConfig());
      await old.append(batchOf(3, 0));
      await old.close();
    }
    const mgr = await openLogManager(dir, {}, { retentionCheckMs: 0 });
    await mgr.createTopic('t', 1);
    assert.equal(mgr.log('t', 0)!.logEndOffset, 0);
    await mgr.addPartitions('t', 2);
    assert.equal(mgr.log('t', 1)!.logEndOffset, 0);
    assert.deepEqual(recordsIn((await mgr.log('t', 1)!.read(0, 1 << 20)).bytes), []);
    await mgr.close();
  } finally {
    await cleanup();
  }
});
