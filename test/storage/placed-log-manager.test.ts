// Cluster mode's local logs follow the placement (src/storage/placed-log-manager.ts), driven
// here by an in-test metadata store: only the partitions placed on this broker have logs,
// strays and a re-created topic's old data are removed at open, changes are applied before
// their events, and internal topics stay in the file store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openLogManager } from '../../src/storage/log-manager.js';
import { PlacedLogManager, type PlacedMetadataStore } from '../../src/storage/placed-log-manager.js';
import { TopicEvents } from '../../src/storage/topic-events.js';
import { StorageError, TopicExistsError, UnknownTopicError } from '../../src/storage/errors.js';
import { DiskPartitionLog } from '../../src/storage/partition-log.js';
import type { CreateTopicOptions, TopicInfo } from '../../src/storage/types.js';
import { batchOf, tempDir } from './helpers.js';
import { encodeBatch } from '../../src/record/index.js';

/** Topics with an id and, per partition, whether it is placed here; the "etcd" of these tests. */
class FakeStore implements PlacedMetadataStore {
  readonly events = new TopicEvents();
  readonly topicMap = new Map<string, { info: TopicInfo; id: string; local: Set<number> }>();
  private readonly listeners = new Set<(t: string) => void>();
  created: { info: TopicInfo; opts: CreateTopicOptions | undefined }[] = [];

  put(name: string, partitions: number, local: number[], id = `${name}-id`): void {
    const existed = this.topicMap.get(name);
    this.topicMap.set(name, { info: { name, partitions, config: {}, createdAt: 0 }, id, local: new Set(local) });
    if (!existed) this.events.emit('topicCreated', { topic: name, partitions, config: {} });
    else if (partitions > existed.info.partitions) this.events.emit('partitionsAdded', { topic: name, from: existed.info.partitions, to: partitions });
    else for (const fn of this.listeners) fn(name);
  }

  drop(name: string): void {
    const t = this.topicMap.get(name)!;
    this.topicMap.delete(name);
    this.events.emit('topicDeleted', { topic: name, partitions: t.info.partitions });
  }

  topic(name: string) { return this.topicMap.get(name)?.info; }
  topics() { return [...this.topicMap.values()].map((t) => t.info); }
  topicId(name: string) { return this.topicMap.get(name)?.id; }
  localPartitions(name: string) { return [...(this.topicMap.get(name)?.local ?? [])].sort((a, b) => a - b); }
  onPlacementChange(fn: (t: string) => void) { this.listeners.add(fn); return () => { this.listeners.delete(fn); }; }
  async createTopic(info: TopicInfo, opts?: CreateTopicOptions) {
    if (this.topicMap.has(info.name)) throw new TopicExistsError(info.name);
    this.created.push({ info, opts });
    this.put(info.name, info.partitions, [0]);
  }
  async deleteTopic(name: string) {
    const t = this.topicMap.get(name);
    if (!t) throw new UnknownTopicError(name);
    this.drop(name);
    return t.info;
  }
  async addPartitions(name: string, total: number) {
    const t = this.topicMap.get(name)!;
    this.put(name, total, [...t.local, total - 1], t.id);
    return this.topicMap.get(name)!.info;
  }
}

async function open(dir: string, store: FakeStore, logger?: (event: string, fields: Record<string, unknown>) => void): Promise<PlacedLogManager> {
  const internal = await openLogManager(dir, {}, { retentionCheckMs: 0 });
  return PlacedLogManager.open(internal, store, { retentionCheckMs: 0, ...(logger ? { logger } : {}) });
}

test('only the partitions placed here have logs; placement changes and events are applied before they are told', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const store = new FakeStore();
    store.topicMap.set('orders', { info: { name: 'orders', partitions: 3, config: {}, createdAt: 0 }, id: 'o1', local: new Set([0, 2]) });
    const mgr = await open(dir, store);
    assert.ok(mgr.log('orders', 0));
    assert.equal(mgr.log('orders', 1), undefined, 'partition 1 is placed on other brokers');
    assert.ok(mgr.log('orders', 2));
    assert.deepEqual([0, 1, 2].map((p) => existsSync(join(dir, `orders-${p}`))), [true, false, true]);
    await mgr.log('orders', 2)!.append(batchOf(3, 0));
    assert.equal(await mgr.enforceRetention(), 0, 'retention walks a topic with holes');

    const seen: string[] = [];
    mgr.events.on('topicCreated', (e) => { seen.push(`created ${e.topic} log0=${mgr.log(e.topic, 0) !== undefined}`); });
    mgr.events.on('partitionsAdded', (e) => { seen.push(`added ${e.topic} log${e.to - 1}=${mgr.log(e.topic, e.to - 1) !== undefined}`); });
    mgr.events.on('topicDeleted', (e) => { seen.push(`deleted ${e.topic} dir0=${existsSync(join(dir, `${e.topic}-0`))}`); });

    const info = await mgr.createTopic('fresh', 2, {}, { replicationFactor: 3 });
    assert.equal(info.partitions, 2);
    assert.deepEqual(store.created[0]!.opts, { replicationFactor: 3 }, 'the replication factor reaches the store');
    assert.ok(mgr.log('fresh', 0), 'created locally before createTopic resolved');
    await mgr.addPartitions('fresh', 3);
    assert.ok(mgr.log('fresh', 2));
    store.put('orders', 3, [0, 1, 2], 'o1'); // a replica moved here
    await mgr.deleteTopic('fresh');
    assert.ok(mgr.log('orders', 1), 'a partition placed here later gets its log');
    store.put('orders', 3, [1, 2], 'o1'); // and one moved away
    await mgr.deleteTopic('orders');
    assert.deepEqual(seen, ['created fresh log0=true', 'added fresh log2=true', 'deleted fresh dir0=false', 'deleted orders dir0=false']);
    assert.deepEqual([0, 1, 2].map((p) => existsSync(join(dir, `orders-${p}`))), [false, false, false]);
    await mgr.close();
  } finally {
    await cleanup();
  }
});

test('at open: a deleted topic, a re-created one and partitions placed elsewhere lose their directories; internal and single-broker topics are kept', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const store = new FakeStore();
    store.topicMap.set('kept', { info: { name: 'kept', partitions: 2, config: {}, createdAt: 0 }, id: 'k1', local: new Set([0, 1]) });
    store.topicMap.set('again', { info: { name: 'again', partitions: 1, config: {}, createdAt: 0 }, id: 'a1', local: new Set([0]) });
    let mgr = await open(dir, store);
    await mgr.log('kept', 0)!.append(batchOf(2, 0));
    await mgr.log('again', 0)!.append(batchOf(4, 0));
    await mgr.createTopic('__consumer_offsets-0', 1);
    await mgr.close();

    // While the broker was down: 'again' deleted and re-created (new id), 'kept' lost partition 1, 'gone' vanished.
    await mkdir(join(dir, 'gone-0'));
    await mkdir(join(dir, 'single-0'));
    await writeFile(join(dir, 'topics.json'), JSON.stringify({ version: 1, topics: [
      { name: '__consumer_offsets-0', partitions: 1, config: {}, createdAt: 0 },
      { name: 'single', partitions: 1, config: {}, createdAt: 0 },
    ] }));
    store.topicMap.set('again', { info: { name: 'again', partitions: 1, config: {}, createdAt: 0 }, id: 'a2', local: new Set([0]) });
    store.topicMap.get('kept')!.local = new Set([0]);
    mgr = await open(dir, store);
    assert.equal(mgr.log('kept', 0)!.logEndOffset, 2, 'the data of a partition still placed here is kept');
    assert.equal(existsSync(join(dir, 'kept-1')), false);
    assert.equal(mgr.log('again', 0)!.logEndOffset, 0, 'the re-created topic starts empty, not with the old data');
    assert.equal(existsSync(join(dir, 'gone-0')), false);
    assert.equal(existsSync(join(dir, 'single-0')), true, 'a single-broker topic is never removed');
    assert.ok(mgr.log('__consumer_offsets-0', 0), 'internal topics stay in the file store');
    assert.deepEqual(mgr.topics().map((t) => t.name).sort(), ['__consumer_offsets-0', 'again', 'kept']);
    await mgr.close();
  } finally {
    await cleanup();
  }
});

test('a placement change arriving while the open reconciles is applied after it, not beside it: one open per partition', async () => {
  // Chaos seed 56: a broker restarting while leaders moved got a placement change of
  // `__share_state` during its first reconciliation; both opened partition 3, both saw its
  // clean-shutdown marker, and the second one's unlink failed (ENOENT): "start failed".
  const { dir, cleanup } = await tempDir();
  try {
    const store = new FakeStore();
    store.topicMap.set('jobs', { info: { name: 'jobs', partitions: 2, config: {}, createdAt: 0 }, id: 'j1', local: new Set([0, 1]) });
    let mgr = await open(dir, store);
    await mgr.log('jobs', 0)!.append(batchOf(3, 0));
    await mgr.close(); // leaves the clean-shutdown markers

    // The store tells of a placement change of 'jobs' just as the open lists its topics.
    let told = 0;
    const topics = store.topics.bind(store);
    store.topics = () => {
      if (told++ === 0) store.put('jobs', 2, [0, 1], 'j1');
      return topics();
    };
    const events: string[] = [];
    mgr = await open(dir, store, (event, fields) => { events.push(`${event} ${JSON.stringify(fields)}`); });
    assert.equal(told > 0, true, 'the open listed the topics');
    // Opened twice at once, one of the two opens fails on the marker the other removed:
    // the open itself, or (as here, where the change comes second) the change, logged.
    await mgr.addPartitions('jobs', 3); // queued behind the change: resolves once it is applied
    assert.deepEqual(events.filter((e) => e.startsWith('storage.placement.failed')), []);
    assert.equal(mgr.log('jobs', 0)?.logEndOffset, 3, 'partition 0 opened, with its records');
    assert.ok(mgr.log('jobs', 1));
    await mgr.close();
  } finally {
    await cleanup();
  }
});

test('the partitions placed here open several at a time (bounded); a failed one is logged and the others are in service', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const store = new FakeStore();
    const all = (n: number) => Array.from({ length: n }, (_, p) => p);
    store.topicMap.set('wide', { info: { name: 'wide', partitions: 200, config: {}, createdAt: 0 }, id: 'w1', local: new Set(all(200)) });
    let running = 0;
    let most = 0;
    const openPartition: typeof DiskPartitionLog.open = async (...args) => {
      running++;
      most = Math.max(most, running);
      try {
        if (args[1] === 'later' && args[2] === 7) throw new StorageError('EIO: i/o error, open (injected)');
        return await DiskPartitionLog.open(...args);
      } finally {
        running--;
      }
    };
    const logged: string[] = [];
    const internal = await openLogManager(dir, {}, { retentionCheckMs: 0 });
    const mgr = await PlacedLogManager.open(internal, store, { retentionCheckMs: 0, openPartition, logger: (event) => logged.push(event) });
    // Was: one at a time (most = 1), 20,000 placed partitions each waiting out the last one's file calls.
    assert.ok(most > 1 && most <= 32, `opens at once: ${most}`);
    for (const p of all(200)) assert.ok(mgr.log('wide', p), `wide-${p}`);
    // A topic placed here later, one of whose partitions cannot be opened.
    store.put('later', 40, all(40));
    await mgr.deleteTopic('wide'); // queued behind the reconciliation of 'later': it has run when this resolves
    assert.ok(logged.includes('storage.placement.failed'), logged.join(', '));
    assert.equal(mgr.log('later', 7), undefined);
    for (const p of all(7)) assert.ok(mgr.log('later', p), `later-${p}: opened before the failure, in service`);
    await mgr.close();
  } finally {
    await cleanup();
  }
});

test('the logs of placed partitions get every partition-log option the manager is opened with (producerIdExpirationMs, now)', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const store = new FakeStore();
    store.topicMap.set('orders', { info: { name: 'orders', partitions: 1, config: {}, createdAt: 0 }, id: 'o1', local: new Set([0]) });
    let now = 1_000_000;
    const expired: unknown[] = [];
    const internal = await openLogManager(dir, {}, { retentionCheckMs: 0 });
    const mgr = await PlacedLogManager.open(internal, store, {
      retentionCheckMs: 0, now: () => now, producerIdExpirationMs: 60_000,
      logger: (event, fields) => { if (event === 'storage.producer-state.expired') expired.push(fields.producers); },
    });
    const batch = (pid: number) => encodeBatch([{ value: `p${pid}` }], { producerId: pid, producerEpoch: 0, baseSequence: 0, now });
    await mgr.log('orders', 0)!.append(batch(1));
    now += 30_000;
    await mgr.log('orders', 0)!.append(batch(2));
    now += 40_000; // producer 1 idle 70 s, producer 2 idle 40 s: only 1 is past 60 s (the default is a day)
    await mgr.enforceRetention();
    assert.deepEqual(expired, [1], 'producer 1 was forgotten after the configured 60 s, by the configured clock');
    await mgr.close();
  } finally {
    await cleanup();
  }
});
