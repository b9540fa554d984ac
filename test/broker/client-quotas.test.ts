// The byte-rate meter (client-quotas.ts) on a fake clock, over the file quota store: the
// throttle it answers, which entry applies to whom, and changes applied without a restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClientQuotas, BURST_MS } from '../../src/broker/client-quotas.js';
import { FileQuotaStore } from '../../src/auth/file-quota-store.js';
import { InvalidQuotaError } from '../../src/auth/quota-store.js';
import { createBrokerMetrics } from '../../src/metrics/broker-metrics.js';

async function setUp(byUser = false) {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-quota-unit-'));
  const store = await FileQuotaStore.open(dir);
  let now = 0;
  const q = new ClientQuotas(store, { byUser, exemptUser: 'broker', metrics: createBrokerMetrics({ enabled: false }), now: () => now });
  return { dir, store, q, advance: (ms: number) => { now += ms; }, done: () => rmSync(dir, { recursive: true, force: true }) };
}

const client = (clientId: string) => ({ principal: undefined, clientId });

test('no entry: nothing is metered; an entry applies at once and is kept in quotas.json', async () => {
  const s = await setUp();
  assert.equal(s.q.active, false);
  assert.equal(s.q.record('produce', client('app'), 1e9), 0);
  await s.store.alter({ type: 'client-id', name: 'app' }, { producerByteRate: 1000 }, []);
  assert.equal(s.q.active, true);
  // One second's worth passes as a burst; every byte past it is throttle at the rate.
  assert.equal(s.q.record('produce', client('app'), 1000), 0);
  assert.equal(s.q.record('produce', client('app'), 500), 500);
  // A client that waits the throttle out is throttled by exactly its next request's time at the rate.
  s.advance(500);
  assert.equal(s.q.record('produce', client('app'), 250), 250);
  // Fetches are metered apart, and only by a consumer quota.
  assert.equal(s.q.record('fetch', client('app'), 1e9), 0);
  // Another client id has no entry and no default: unmetered.
  assert.equal(s.q.record('produce', client('other'), 1e9), 0);
  assert.deepEqual((await FileQuotaStore.open(s.dir)).entries(), [{ entityType: 'client-id', name: 'app', producerByteRate: 1000 }]);
  await s.store.alter({ type: 'client-id', name: 'app' }, {}, ['producerByteRate']);
  assert.equal(s.q.active, false);
  assert.deepEqual((await FileQuotaStore.open(s.dir)).entries(), []);
  s.done();
});

test('the default entry gives each client id its own budget; an own entry wins over it', async () => {
  const s = await setUp();
  await s.store.alter({ type: 'default' }, { consumerByteRate: 100 }, []);
  await s.store.alter({ type: 'client-id', name: 'big' }, { consumerByteRate: 1_000_000 }, []);
  assert.equal(s.q.record('fetch', client('a'), 100 + 100), 1000);
  assert.equal(s.q.record('fetch', client('b'), 100), 0, 'b has a budget of its own');
  assert.equal(s.q.record('fetch', client(''), 100), 0, 'clients without an id share one budget');
  assert.equal(s.q.record('fetch', client('big'), 1_000_000), 0);
  s.done();
});

test('with auth, entities are users: client-id entries do not apply, the inter-broker user is never metered', async () => {
  const s = await setUp(true);
  await s.store.alter({ type: 'client-id', name: 'app' }, { producerByteRate: 1 }, []);
  await s.store.alter({ type: 'user', name: 'alice' }, { producerByteRate: 10 }, []);
  await s.store.alter({ type: 'default' }, { producerByteRate: 1 }, []);
  assert.equal(s.q.record('produce', { principal: 'alice', clientId: 'app' }, 20), BURST_MS);
  assert.equal(s.q.record('produce', { principal: 'broker', clientId: 'app' }, 1e9), 0);
  assert.equal(s.q.record('produce', { principal: 'bob', clientId: '' }, 2), BURST_MS);
  s.done();
});

test('the store refuses a bad entity or rate naming what is wrong, and keeps nothing of it', async () => {
  const s = await setUp();
  await assert.rejects(s.store.alter({ type: 'user', name: 'a/b' }, { producerByteRate: 1 }, []), (e: Error) => e instanceof InvalidQuotaError && /holds a control character or '\/'/.test(e.message));
  await assert.rejects(s.store.alter({ type: 'default' }, { producerByteRate: 0 }, []), /producerByteRate must be an integer of at least 1/);
  await assert.rejects(s.store.alter({ type: 'client-id' }, { producerByteRate: 5 }, []), /a client-id entry needs a non-empty name/);
  assert.deepEqual(s.store.entries(), []);
  s.done();
});
