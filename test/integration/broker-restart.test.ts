import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from './harness.js';
import { RawClient } from './raw-client.js';
import { Api } from '../../src/protocol/api.js';
import { batchOf, createTopic, produce, readAll, fetchFrom, waitForParked } from './broker-helpers.js';

test('SIGTERM: graceful stop (exit 0, pending long poll answered), restart keeps topics and data', async () => {
  const broker = await startBroker();
  let c = await RawClient.connect(broker.url);
  await createTopic(c, 'keep', 2);
  for (let i = 0; i < 5; i++) await produce(c, 'keep', i % 2, batchOf([`v${i}`]), i === 4 ? -1 : 1);
  const parked = fetchFrom(c, 'keep', 0, 3, { maxWaitMs: 20_000 });
  await waitForParked(broker.httpUrl, 'fetch'); // parked before the SIGTERM, so shutdown is what answers it
  const t0 = Date.now();
  const code = await broker.stop('SIGTERM');
  assert.equal(code, 0);
  const answered = await parked;
  assert.ok(Date.now() - t0 < 10_000);
  assert.equal(answered.partitions[0].records.length, 0, 'the parked fetch was answered at shutdown');
  assert.match(broker.logs(), /"event":"stopped"/);

  await broker.restart();
  c = await RawClient.connect(broker.url);
  const md = await c.request({ api: Api.Metadata, topics: ['keep'] });
  assert.equal(md.topics[0].partitions, 2);
  assert.deepEqual(await readAll(c, 'keep', 0), [[0, 'v0'], [1, 'v2'], [2, 'v4']]);
  assert.deepEqual(await readAll(c, 'keep', 1), [[0, 'v1'], [1, 'v3']]);
  c.close();
  assert.equal(await broker.stop(), 0);
});

test('SIGKILL then restart recovers acknowledged data and keeps accepting', async () => {
  const broker = await startBroker();
  let c = await RawClient.connect(broker.url);
  await createTopic(c, 'crash');
  const acked: string[] = [];
  for (let i = 0; i < 50; i++) {
    const v = `r${i}`;
    const res = await produce(c, 'crash', 0, batchOf([v]), -1);
    if (res.partitions[0].error === undefined) acked.push(v);
  }
  await broker.kill();
  await broker.restart();
  c = await RawClient.connect(broker.url);
  const recs = await readAll(c, 'crash', 0);
  assert.deepEqual(recs.map(([, v]) => v), acked);
  const more = await produce(c, 'crash', 0, batchOf(['after']));
  assert.equal(more.partitions[0].baseOffset, acked.length);
  c.close();
  await broker.stop();
});
