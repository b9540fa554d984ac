// A connection's requests in flight must not be kept where the scavenger promotes them
// (client/pending-requests.ts). Found by measuring it (session 12 review): with the requests
// in a Map, ~500 bytes per request went into the old generation whenever more than one was in
// flight (~50 MB per 100,000 produce requests, freed only by full collections). Measured as
// in test/client/producer-heap.test.ts: bytes the scavenges moved into the old generation
// (v8.GCProfiler), allocation-driven, so a loaded machine does not change it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promotedWhile } from '../heap-while.js';
import { Connection } from '../../src/client/connection.js';
import { Admin } from '../../src/client/index.js';
import { Api } from '../../src/protocol/api.js';
import { encodeBatch } from '../../src/record/index.js';
import { startBroker } from './harness.js';


test('50,000 produce requests with 32 in flight promote next to nothing into the old generation', { timeout: 300_000 }, async (t) => {
  const broker = await startBroker();
  t.after(() => broker.kill());
  const admin = new Admin({ url: broker.url });
  await admin.createTopic('t', 1);
  await admin.close();
  const conn = new Connection(broker.url, {});
  t.after(() => conn.close());
  await conn.connect();
  const records = encodeBatch([{ value: Buffer.alloc(100, 1) }]);
  const run = async (n: number) => {
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < n; i++) {
      pending.push(conn.request(Api.Produce, { acks: 1, partitions: [{ topic: 't', partition: 0, records }] }));
      if (pending.length >= 32) await pending.shift();
    }
    await Promise.all(pending);
  };
  await run(5000); // warm-up: code compiled, buffers sized
  const REQUESTS = 50_000;
  const promoted = await promotedWhile(() => run(REQUESTS));
  // Measured (load 24-28): 0.6 B per request with array slots; 480-540 B with a Map.
  assert.ok(promoted / REQUESTS < 100, `the scavenges promoted ${(promoted / REQUESTS).toFixed(1)} bytes per request (${(promoted / 1e6).toFixed(1)} MB)`);
});
