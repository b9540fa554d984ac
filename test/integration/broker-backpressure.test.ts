import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type BrokerHandle } from './harness.js';
import { RawClient } from './raw-client.js';
import { Api } from '../../src/protocol/api.js';
import { ERRORS } from '../../src/protocol/errors.js';
import { encodeBatch } from '../../src/record/index.js';
import { batchOf, createTopic, metricValue, produce, readAll } from './broker-helpers.js';
import { waitFor } from './group-helpers.js';

let broker: BrokerHandle;
let admin: RawClient;
before(async () => {
  broker = await startBroker({ args: ['--max-in-flight-per-connection', '4', '--max-buffered-bytes-per-connection', '1048576'] });
  admin = await RawClient.connect(broker.url);
});
after(async () => {
  admin?.close();
  await broker?.stop();
});

test('in-flight limit: requests past it are refused with TOO_MANY_REQUESTS, the rest complete', async () => {
  await createTopic(admin, 'inflight');
  const c = await RawClient.connect(broker.url);
  // 20 long polls written at once; the broker reads them in one chunk, parks 4, refuses the rest.
  const polls = Array.from({ length: 20 }, () => c.request({
    api: Api.Fetch, maxWaitMs: 300, minBytes: 1, maxBytes: 1000, partitions: [{ topic: 'inflight', partition: 0, offset: 0, maxBytes: 1000 }],
  }));
  const res = await Promise.all(polls);
  const refused = res.filter((r) => r.error?.code === ERRORS.TOO_MANY_REQUESTS.code).length;
  const answered = res.filter((r) => r.partitions).length;
  assert.equal(refused + answered, 20);
  assert.ok(answered >= 4 && refused >= 1, `answered ${answered}, refused ${refused}`);
  c.close();
});

test('a client that stops reading stops being read from; it resumes once it drains', async () => {
  // Its own broker: the in-flight limit of the other test would refuse these pipelined fetches.
  const b2 = await startBroker({ args: ['--max-buffered-bytes-per-connection', '1048576'] });
  const admin = await RawClient.connect(b2.url);
  await createTopic(admin, 'big');
  await createTopic(admin, 'marker');
  const big = encodeBatch(Array.from({ length: 1000 }, (_, i) => ({ value: Buffer.alloc(1000, i % 256) })));
  await produce(admin, 'big', 0, big);

  const slow = await RawClient.connect(b2.url);
  const sock = slow.socket;
  sock.pause();
  // ~40 MB of answers: far past the 1 MiB output limit plus what loopback buffers absorb.
  const fetches = Array.from({ length: 40 }, () => slow.request({
    api: Api.Fetch, maxWaitMs: 0, minBytes: 0, maxBytes: 2 << 20, partitions: [{ topic: 'big', partition: 0, offset: 0, maxBytes: 2 << 20 }],
  }, 60_000));
  // The broker holds a full budget for this connection (queued on its socket or reserved for
  // a read), so it has stopped reading it: the produce below stays unread.
  await waitFor('the slow connection\'s output budget spent', async () =>
    await metricValue(b2.httpUrl, 'sluice_buffered_bytes') + await metricValue(b2.httpUrl, 'sluice_reserved_bytes') >= 1048576, 30_000, 20);
  const markerDone = produce(slow, 'marker', 0, batchOf(['late']));
  await new Promise((r) => setTimeout(r, 400));
  assert.deepEqual(await readAll(admin, 'marker', 0), [], 'the paused connection was not read');
  sock.resume();
  const all = await Promise.all(fetches);
  assert.ok(all.every((r) => r.partitions?.[0].records.length >= 1_000_000), 'every fetch answered in full');
  assert.equal((await markerDone).partitions[0].baseOffset, 0);
  assert.deepEqual(await readAll(admin, 'marker', 0), [[0, 'late']]);
  slow.close();
  admin.close();
  await b2.stop();
});
