// Quotas in cluster mode (auth/etcd-quota-store.ts) against a real etcd: a change made through
// one broker's store reaches another broker's store through its watch (no restart), both
// stores list the same, and a value written by hand that does not parse is skipped and said.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { EtcdQuotaStore } from '../../src/auth/etcd-quota-store.js';
import { ClusterKeys } from '../../src/cluster/keys.js';
import { etcdForFile } from '../cluster/etcd-process.js';
import { waitFor } from '../integration/group-helpers.js';

const env = etcdForFile();

test('a quota set through one broker applies at another through the watch; a hand-written bad value is skipped and said', async () => {
  const keys = new ClusterKeys('quota-test');
  const other = new Etcd3({ hosts: env.etcd.url });
  const invalid: string[] = [];
  const a = await EtcdQuotaStore.open(env.client, keys);
  const b = await EtcdQuotaStore.open(other, keys, (key) => invalid.push(key));
  let changes = 0;
  b.onChange(() => { changes++; });
  try {
    await a.alter({ type: 'user', name: 'alice' }, { producerByteRate: 1000, consumerByteRate: 2000 }, []);
    await waitFor('the watch to bring both quotas', () => b.entries().length === 1 && b.entries()[0].consumerByteRate === 2000 && b.entries()[0].producerByteRate === 1000, 30_000);
    assert.deepEqual(b.entries(), [{ entityType: 'user', name: 'alice', producerByteRate: 1000, consumerByteRate: 2000 }]);
    assert.deepEqual(a.entries(), b.entries());
    assert.ok(changes >= 1);
    await a.alter({ type: 'user', name: 'alice' }, {}, ['producerByteRate', 'consumerByteRate']);
    await waitFor('the removal', () => b.entries().length === 0, 30_000);
    await env.client.put(keys.quota('default', 'producerByteRate')).value('fast');
    await waitFor('the bad value to be said', () => invalid.length > 0, 30_000);
    assert.equal(invalid[0], keys.quota('default', 'producerByteRate'));
    assert.deepEqual(b.entries(), []);
  } finally {
    await a.close();
    await b.close();
    other.close();
  }
});
