// Producer ids from etcd: brokers racing for blocks never get overlapping ones, against a real etcd.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { ClusterKeys } from '../../src/cluster/keys.js';
import { claimProducerIdBlock, ProducerIdAllocator } from '../../src/cluster/producer-id-blocks.js';
import { etcdTool, startEtcd, type EtcdHandle } from './etcd-process.js';

let etcd: EtcdHandle;
const clients: Etcd3[] = [];

before(async () => {
  if (etcdTool.skip) return;
  etcd = await startEtcd();
  for (let i = 0; i < 6; i++) clients.push(new Etcd3({ hosts: etcd.url }));
});
after(async () => {
  for (const c of clients) c.close();
  await etcd?.stop();
});

test('six brokers claiming blocks at once get disjoint blocks that together leave no gap', { skip: etcdTool.skip }, async () => {
  const keys = new ClusterKeys('pids');
  const blocks = (await Promise.all(clients.map(async (c) => {
    const mine = [];
    for (let i = 0; i < 5; i++) mine.push(await claimProducerIdBlock(c, keys, 100));
    return mine;
  }))).flat().sort((a, b) => a.first - b.first);
  assert.equal(blocks.length, 30);
  blocks.forEach((b, i) => {
    assert.equal(b.end - b.first, 100);
    assert.equal(b.first, i * 100, `block ${i} starts where the previous one ended`);
  });
});

test('an allocator hands out each id once, also to concurrent callers, across block boundaries', { skip: etcdTool.skip }, async () => {
  const keys = new ClusterKeys('alloc');
  const a = new ProducerIdAllocator(clients[0]!, keys, 10);
  const b = new ProducerIdAllocator(clients[1]!, keys, 10);
  const ids = await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 ? a : b).nextId()));
  assert.equal(new Set(ids).size, 60, 'no id was handed out twice');
  assert.ok(ids.every((id) => Number.isInteger(id) && id >= 0));
});
