// Broker-wide share-group defaults (share.* settings) apply to a group created without
// settings, and a group's own settings still win.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from './harness.js';
import { Admin, Producer, QueueAdmin, QueueConsumer } from '../../src/client/index.js';

test('share.* settings are the defaults of new share groups; a group\'s own settings override them', async () => {
  const broker = await startBroker({
    args: ['--share-visibility-timeout-ms', '4321', '--share-max-deliveries', '7'],
    env: { SLUICE_SHARE_RETRY_BACKOFF_MS: '123' },
  });
  const admin = new Admin({ url: broker.url });
  const qadmin = new QueueAdmin({ url: broker.url });
  const workers: QueueConsumer[] = [];
  try {
    await admin.createTopic('jobs', 1);
    const producer = new Producer({ url: broker.url });
    await producer.send('jobs', [{ value: 'a' }, { value: 'b' }]);
    await producer.close();

    const plain = new QueueConsumer({ url: broker.url, groupId: 'plain', topics: 'jobs' });
    const own = new QueueConsumer({ url: broker.url, groupId: 'own', topics: 'jobs', settings: { maxDeliveries: 2 } });
    workers.push(plain, own);
    for (const w of workers) {
      for await (const job of w) {
        await job.ack();
        break;
      }
    }
    const p = (await qadmin.describeGroup('plain')).settings;
    assert.equal(p.visibilityTimeoutMs, 4321);
    assert.equal(p.maxDeliveries, 7);
    assert.equal(p.retryBackoffMs, 123);
    const o = (await qadmin.describeGroup('own')).settings;
    assert.equal(o.maxDeliveries, 2);
    assert.equal(o.visibilityTimeoutMs, 4321);
  } finally {
    await Promise.all(workers.map((w) => w.close().catch(() => {})));
    await qadmin.close();
    await admin.close();
    await broker.stop();
  }
});
