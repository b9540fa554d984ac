/**
 * A fetch quota must slow a group consumer down, not get it fenced. The consumer's
 * heartbeats share its connection with its fetches (one broker: one connection), and a
 * throttled answer holds every later request on that connection back (KIP-219, the client
 * waits it out; the broker stops reading it meanwhile). So one fetch answer must not run
 * the member's bytes far past its quota: a 4 MiB answer under a 128 KiB/s quota is a 31 s
 * throttle, longer than the session, and the member times out while it waits.
 *
 * Bounds: the session is 6 s with 250 ms heartbeats, so a member is fenced only by a wait of
 * more than 6 s (a CI stall of a few seconds does not do it; the unbounded answer waits ~7 s
 * for 1 MiB and more for more). The 1 MiB takes ~7 s to read at the quota either way.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Admin } from '../../src/client/index.js';
import { Connection } from '../../src/client/connection.js';
import { Api } from '../../src/protocol/api.js';
import { startBroker, type BrokerHandle } from './harness.js';
import { batchOf } from './broker-helpers.js';
import { groupConsumer } from './group-helpers.js';
import { runCli } from './security-cli.js';

const KiB = 1024;
const FETCH_RATE = 128 * KiB;
const BATCHES = 16; // of 64 KiB: 1 MiB, about 7 s at the quota after the one-second burst

const dataDir = mkdtempSync(join(tmpdir(), 'sluice-quota-member-'));
let broker: BrokerHandle;

before(async () => {
  const set = await runCli(['quota', 'set', '--client-id', 'throttled-member', '--consumer-byte-rate', String(FETCH_RATE), '--data-dir', dataDir]);
  assert.equal(set.code, 0, set.stderr);
  broker = await startBroker({ dataDir, args: ['--group-heartbeat-interval-ms', '250', '--group-min-session-timeout-ms', '500'] });
});
after(async () => {
  await broker?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

test('a group consumer held to its fetch quota keeps its membership: no answer throttles it past its session', async () => {
  const topic = 'quota-member';
  const admin = new Admin({ url: broker.url });
  try {
    await admin.connect();
    await admin.createTopics([{ name: topic, partitions: 1 }]);
  } finally {
    await admin.close();
  }
  const filler = new Connection(broker.url);
  const batch = batchOf(Array.from({ length: 4 }, () => 'z'.repeat(16 * KiB)));
  for (let i = 0; i < BATCHES; i++) await filler.request(Api.Produce, { acks: 1, partitions: [{ topic, partition: 0, records: batch }] });
  await filler.close();

  const c = groupConsumer(broker.url, 'g-quota-member', [topic], { clientId: 'throttled-member', sessionTimeoutMs: 6000 });
  let got = 0;
  const epochs = new Set<string>();
  try {
    await c.run({
      eachMessage: async () => {
        const m = c.groupMember()!;
        epochs.add(m.memberId);
        if (++got === BATCHES * 4) await c.close();
      },
    });
  } finally {
    await c.close();
  }
  assert.equal(got, BATCHES * 4);
  // The broker removes a member whose heartbeats stopped for a session; the consumer then joins again under a new member id.
  assert.doesNotMatch(broker.logs(), /group members timed out/, 'the member was fenced while it waited out a throttle');
  assert.equal(epochs.size, 1, `the consumer joined again (member ids ${[...epochs].join(', ')})`);
});

test('a fetch under a fetch quota whose minBytes is above the quota\'s burst is answered with what the burst allows, not held to maxWaitMs', async () => {
  const topic = 'quota-min-bytes';
  const c = new Connection(broker.url, { clientId: 'throttled-member' });
  try {
    await c.request(Api.CreateTopics, { topics: [{ name: topic, partitions: 1 }] });
    const batch = batchOf(Array.from({ length: 4 }, () => 'm'.repeat(16 * KiB)));
    for (let i = 0; i < 24; i++) await c.request(Api.Produce, { acks: 1, partitions: [{ topic, partition: 0, records: batch }] });
    const t0 = Date.now();
    // 1.5 MiB stored, 1 MiB asked for at least: without a quota answered at once; the quota lets
    // one answer carry 128 KiB, which must not turn the poll into a 30 s wait.
    const res = await c.request(Api.Fetch, { maxWaitMs: 30_000, minBytes: 1024 * KiB, maxBytes: 4096 * KiB, partitions: [{ topic, partition: 0, offset: 0, maxBytes: 4096 * KiB }] }, 60_000);
    const took = Date.now() - t0;
    const bytes = res.partitions[0]!.records.length;
    assert.ok(bytes > 0 && bytes <= FETCH_RATE + 64 * KiB, `answered ${bytes} bytes: about one burst (${FETCH_RATE}) and its first batch whole`);
    assert.ok(took < 15_000, `answered after ${took} ms: a minBytes the quota can never let one answer reach must not hold it to maxWaitMs (30 s)`);
  } finally {
    await c.close();
  }
});
