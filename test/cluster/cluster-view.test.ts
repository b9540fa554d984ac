// A broker's view of topics and partition states, against a real etcd: the read plus watch
// misses nothing, values no broker wrote are reported and skipped, and a watch that etcd
// cancels after a compaction (the client was cut off meanwhile) resyncs to the same state.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { ClusterView, type TopicRecord } from '../../src/cluster/cluster-view.js';
import { ClusterKeys } from '../../src/cluster/keys.js';
import { initialState } from '../../src/cluster/partition-state.js';
import { until } from './cluster-helpers.js';
import { etcdForFile, etcdTool } from './etcd-process.js';
import { startTcpProxy } from '../tcp-proxy.js';

const env = etcdForFile();

const rec = (partitions: number, topicId = `id-${partitions}`): TopicRecord => ({ topicId, partitions, replicationFactor: 1, config: {} });
const opts = { skip: etcdTool.skip };

test('the view starts from what etcd holds and follows every later change, in order', opts, async (t) => {
  const keys = new ClusterKeys('view');
  await env.client.put(keys.topic('a')).value(JSON.stringify(rec(1)));
  await env.client.put(keys.partition('a', 0)).value(JSON.stringify(initialState([1])));
  const view = await ClusterView.open(env.client, keys);
  t.after(() => view.close());
  assert.equal(view.topic('a')?.partitions, 1);
  assert.deepEqual(view.partition('a', 0)?.state, initialState([1]));

  const seen: string[] = [];
  view.on('topic', (name, r) => { seen.push(`topic ${name} ${r?.partitions ?? 'gone'}`); });
  view.on('partition', (topic, p, s) => { seen.push(`partition ${topic}/${p} ${s?.state.leader ?? 'gone'}`); });
  const invalid: string[] = [];
  view.on('invalid', (key) => { invalid.push(key); });

  await env.client.put(keys.topic('b')).value(JSON.stringify(rec(2)));
  await env.client.put(keys.partition('b', 0)).value(JSON.stringify(initialState([2])));
  await env.client.put(keys.partition('b', 1)).value('not json');
  await env.client.delete().key(keys.partition('a', 0));
  await env.client.delete().key(keys.topic('a'));
  await until(async () => (seen.length >= 4 ? true : undefined), 10_000, 'four events');
  assert.deepEqual(seen, ['topic b 2', 'partition b/0 2', 'partition a/0 gone', 'topic a gone']);
  assert.deepEqual(invalid, [keys.partition('b', 1)]);
  assert.equal(view.topic('a'), undefined);
});

test('a watch cancelled by compaction while cut off from etcd resyncs, and the difference arrives as events', opts, async (t) => {
  const keys = new ClusterKeys('resync');
  const proxy = await startTcpProxy(Number(new URL(env.etcd.url).port));
  t.after(() => proxy.close());
  const viaProxy = new Etcd3({ hosts: proxy.url });
  t.after(() => { viaProxy.close(); });
  await env.client.put(keys.topic('old')).value(JSON.stringify(rec(1)));
  const view = await ClusterView.open(viaProxy, keys);
  t.after(() => view.close());
  const gone: string[] = [];
  const added: string[] = [];
  view.on('topic', (name, r) => { (r === undefined ? gone : added).push(name); });

  proxy.cut();
  // While the view is cut off: changes, then a compaction past them, so the watch cannot resume.
  await env.client.delete().key(keys.topic('old'));
  await env.client.put(keys.topic('new')).value(JSON.stringify(rec(3)));
  const put = await env.client.put(keys.topic('filler')).value(JSON.stringify(rec(1))).exec();
  await env.client.kv.compact({ revision: put.header.revision, physical: true });
  proxy.restore();

  await until(async () => (view.topic('new') !== undefined && view.topic('old') === undefined ? true : undefined), 60_000, 'the view to resync');
  assert.deepEqual(gone, ['old']);
  assert.deepEqual(added.sort(), ['filler', 'new']);
  assert.deepEqual([...view.topics().keys()].sort(), ['filler', 'new']);
});
