// A queue worker that comes back on a new connection before the broker notices its old one
// is gone keeps its jobs when the old connection finally closes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from './harness.js';
import { RawClient } from './raw-client.js';
import { Api } from '../../src/protocol/api.js';
import { batchOf, createTopic, produce, waitForMetric } from './broker-helpers.js';

test('closing a worker\'s old connection does not release the jobs it now holds through a new one', async (t) => {
  const broker = await startBroker();
  t.after(() => broker.stop());
  const admin = await RawClient.connect(broker.url);
  t.after(() => admin.close());
  await createTopic(admin, 'q-move');
  await produce(admin, 'q-move', 0, batchOf(['a', 'b', 'c']));

  const acquire = (c: RawClient, maxRecords: number) => c.request({
    api: Api.ShareAcquire, groupId: 'g-move', workerId: 'w', topics: ['q-move'], maxRecords, maxWaitMs: 0,
  });
  const oldConn = await RawClient.connect(broker.url);
  const got = await acquire(oldConn, 2);
  assert.deepEqual(got.partitions[0].acquired.map((r: { firstOffset: number; lastOffset: number }) => [r.firstOffset, r.lastOffset]), [[0, 1]]);

  // The same worker speaks on a new connection (a client that reconnected), then the old one closes.
  const newConn = await RawClient.connect(broker.url);
  t.after(() => newConn.close());
  await acquire(newConn, 0); // heartbeat
  oldConn.close();
  // The broker has handled the close (its close hooks, where a worker leaves, run before the
  // gauge drops): admin and newConn are left.
  await waitForMetric(broker.httpUrl, 'sluice_connections', {}, (n) => n === 2);

  const res = await newConn.request({
    api: Api.ShareAck, groupId: 'g-move', workerId: 'w', entries: [{ topic: 'q-move', partition: 0, offsets: [0, 1], type: 'ack' }],
  });
  assert.equal(res.results[0].error, undefined, JSON.stringify(res.results[0].error));
  const d = await admin.request({ api: Api.ShareDescribe, groupIds: ['g-move'] });
  assert.equal(d.groups[0].acked, 2);
  assert.equal(d.groups[0].workers.length, 1, 'the worker is still in the group');
});
