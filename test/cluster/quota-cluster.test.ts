/**
 * Quotas in cluster mode (docs/security.md, "Quotas and limits"): entries live in etcd, so a
 * quota set through one broker is enforced by another once its watch has it, and a change
 * made through that other broker applies back at the first, with no restart. Each broker
 * meters on its own (a budget per entity per broker); the signal is the produce answer's
 * throttleTimeMs on a fresh connection, which does not depend on the machine's speed: 64 KiB
 * over a 10,000 B/s rate (one second's burst) is several seconds over, unthrottled it is 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withAdmin } from '../integration/quota-helpers.js';
import { Api } from '../../src/protocol/api.js';
import { encodeBatch } from '../../src/record/encoder.js';
import { RawClient } from '../integration/raw-client.js';
import { brokerClusterForFile } from './broker-cluster.js';
import { etcdTool } from './etcd-process.js';
import { until } from './cluster-helpers.js';

const env = brokerClusterForFile({ brokers: 2 });
const RATE = 10_000;
const records = encodeBatch([{ value: Buffer.alloc(64 * 1024, 7) }]);

/** throttleTimeMs (0 when absent) of one 64 KiB produce on a new connection to `url` (no client id: the default entry's entity). */
async function throttleAt(url: string): Promise<number> {
  const raw = await RawClient.connect(url);
  try {
    const res = await raw.request({ api: Api.Produce, acks: 1, partitions: [{ topic: 'metered', partition: 0, records }] });
    return (res.throttleTimeMs as number | undefined) ?? 0;
  } finally {
    raw.close();
  }
}


test('a quota set through one broker is enforced by the other, and a change through the other applies back, without a restart', { skip: etcdTool.skip, timeout: 170_000 }, async () => {
  const [one, two] = env.cluster.brokers;
  const pids = [one.proc.pid, two.proc.pid];
  await withAdmin(one.url, (a) => a.createTopic('metered', 1, {}, { replicationFactor: 2 }));
  assert.equal(await throttleAt(one.url), 0, 'no quota yet');
  assert.equal(await throttleAt(two.url), 0, 'no quota yet');

  await withAdmin(one.url, (a) => a.alterClientQuotas({ type: 'default' }, { producerByteRate: RATE }));
  // The broker that took the change applies it when etcd has it, i.e. before it answered.
  assert.ok(await throttleAt(one.url) > 1000, 'broker 1 throttles 64 KiB at 10,000 B/s');
  const setAt = Date.now();
  const seen = await until(async () => { const t = await throttleAt(two.url); return t > 0 ? t : undefined; }, 30_000, 'broker 2 to apply the quota set through broker 1');
  assert.ok(seen > 1000, `broker 2 throttled only ${seen} ms`);
  // Listed the same at both.
  for (const b of [one, two]) assert.deepEqual(await withAdmin(b.url, (a) => a.describeClientQuotas()), [{ entityType: 'default', producerByteRate: RATE }]);
  const appliedMs = Date.now() - setAt;

  // Raised through broker 2: broker 1 stops throttling (its meter starts again under the new rate).
  await withAdmin(two.url, (a) => a.alterClientQuotas({ type: 'default' }, { producerByteRate: 1e9 }));
  assert.equal(await throttleAt(two.url), 0);
  await until(async () => (await throttleAt(one.url)) === 0 ? true : undefined, 30_000, 'broker 1 to apply the change made through broker 2');
  // Removed through broker 1: neither meters any more.
  await withAdmin(one.url, (a) => a.alterClientQuotas({ type: 'default' }, {}, ['producerByteRate']));
  await until(async () => (await withAdmin(two.url, (a) => a.describeClientQuotas())).length === 0 ? true : undefined, 30_000, 'broker 2 to drop the removed entry');
  assert.equal(await throttleAt(two.url), 0);
  assert.deepEqual([one.proc.pid, two.proc.pid], pids, 'no broker restarted');
  assert.ok(appliedMs < 30_000, `applied at broker 2 within ${appliedMs} ms`);
});
