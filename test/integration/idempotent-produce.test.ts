/**
 * The idempotent producer end to end (KIP-98; docs/cluster.md, "Idempotent producer"): a real
 * broker process behind a TCP proxy that lets produce requests through but keeps their
 * answers; once the broker has stored every batch in flight, the link is cut, so the client
 * retries batches the broker already stored. Afterwards each partition holds every record
 * exactly once and in order: from the live producer state, from the snapshot written at a
 * clean shutdown, and from the log replayed after a SIGKILL. A control run without
 * idempotence shows the same scenario does store duplicates.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../free-port.js';
import { startBroker, type BrokerHandle } from './harness.js';
import { TcpProxy } from '../tcp-proxy.js';
import { RawClient } from './raw-client.js';
import { readAll, waitForMetric } from './broker-helpers.js';
import { Admin, Producer } from '../../src/client/index.js';

const PARTITIONS = 2;
/** Sends in flight at once: one batch per partition each, within the five unsettled batches a partition allows. */
const WAVES = 4;
const PER_WAVE = 40;

interface Run {
  broker: BrokerHandle;
  proxy: TcpProxy;
  producer: Producer;
}

/**
 * Starts a broker (fixed port, so a restart stays behind the proxy) with topic `t`, a proxy
 * and a producer through it; one message sent and acknowledged first (the producer id is taken).
 */
async function setup(t: { after(fn: () => Promise<unknown>): void }, idempotent: boolean): Promise<Run> {
  const port = await freePort();
  const broker = await startBroker({ args: ['--port', String(port)] });
  t.after(() => broker.kill());
  const admin = new Admin({ url: broker.url });
  await admin.createTopic('t', PARTITIONS);
  await admin.close();
  const proxy = await TcpProxy.start(port);
  t.after(() => proxy.close());
  const producer = new Producer({
    url: `ws://127.0.0.1:${proxy.port}`, idempotent, lingerMs: 0, retries: 1000, retryBackoffMs: 20, retryBackoffMaxMs: 200,
    reconnectBackoffMs: 20, reconnectBackoffMaxMs: 200, requestTimeoutMs: 60_000,
  });
  t.after(() => producer.close());
  await producer.send('t', { value: 'first', partition: 0 });
  return { broker, proxy, producer };
}

/**
 * Sends WAVES sends of PER_WAVE messages (alternating partitions), each in its own batches,
 * while the proxy keeps the answers; resolves once the broker has stored all of them (its
 * messages-in counter), with the sends still unanswered.
 */
async function sendWithAnswersKept(run: Run): Promise<{ sends: Promise<unknown>[]; values: string[][] }> {
  run.proxy.hold('toClient');
  const values: string[][] = Array.from({ length: PARTITIONS }, () => []);
  const sends: Promise<unknown>[] = [];
  for (let w = 0; w < WAVES; w++) {
    const msgs = Array.from({ length: PER_WAVE }, (_, i) => ({ value: `w${w}-${i}`, partition: i % PARTITIONS }));
    for (const m of msgs) values[m.partition]!.push(m.value);
    sends.push(run.producer.send('t', msgs));
    // Next turn of the event loop: lingerMs 0 closes this send's batches first, so each send is its own request.
    await new Promise((r) => setImmediate(r));
  }
  await waitForMetric(run.broker.httpUrl, 'sluice_messages_in_total', { topic: 't' }, (v) => v >= 1 + WAVES * PER_WAVE, 60_000);
  return { sends, values };
}

/** Every partition's records, in offset order. */
async function logOf(broker: BrokerHandle): Promise<string[][]> {
  const c = await RawClient.connect(broker.url);
  try {
    const out: string[][] = [];
    for (let p = 0; p < PARTITIONS; p++) out.push((await readAll(c, 't', p)).map(([, v]) => v));
    return out;
  } finally {
    c.close();
  }
}

function assertExactlyOnce(log: string[][], values: string[][]): void {
  assert.deepEqual(log[0], ['first', ...values[0]!], 'partition 0: every record once, in order');
  assert.deepEqual(log[1], values[1], 'partition 1: every record once, in order');
}

test('answers lost with the link: the retried batches are answered as duplicates, each record is stored once and in order', async (t) => {
  const run = await setup(t, true);
  const { sends, values } = await sendWithAnswersKept(run);
  run.proxy.cut();
  run.proxy.restore();
  await Promise.all(sends);
  assertExactlyOnce(await logOf(run.broker), values);
});

test('control: without idempotence the same lost answers store the retried batches twice', async (t) => {
  const run = await setup(t, false);
  const { sends, values } = await sendWithAnswersKept(run);
  run.proxy.cut();
  run.proxy.restore();
  await Promise.all(sends);
  const log = await logOf(run.broker);
  assert.ok(log[1]!.length > values[1]!.length, `duplicates stored: ${log[1]!.length} records for ${values[1]!.length} sent`);
});

for (const how of ['SIGTERM', 'SIGKILL'] as const) {
  test(`the broker restarts (${how}) between the first send and the retry: the recovered state still answers the duplicates`, async (t) => {
    const run = await setup(t, true);
    const { sends, values } = await sendWithAnswersKept(run);
    run.proxy.cut(); // the client retries into a closed link until the broker is back
    if (how === 'SIGKILL') await run.broker.kill();
    await run.broker.restart();
    run.proxy.restore();
    await Promise.all(sends);
    assertExactlyOnce(await logOf(run.broker), values);
    const logs = run.broker.logs();
    // SIGTERM: the snapshot of the clean close; SIGKILL: no snapshot (the log never rolled), the log replayed.
    assert.equal(/storage\.producer-state\.replayed/.test(logs), how === 'SIGKILL', 'which recovery path ran');
  });
}

test('a batch that failed on a stalled connection and reaches the broker after the producer reset is never stored behind the later sends (KIP-360 epoch bump)', async (t) => {
  const port = await freePort();
  const broker = await startBroker({ args: ['--port', String(port)] });
  t.after(() => broker.kill());
  const admin = new Admin({ url: broker.url });
  await admin.createTopic('t', 1);
  await admin.close();
  const proxy = await TcpProxy.start(port);
  t.after(() => proxy.close());
  // No retries: the send on the stalled connection fails at once when the connection is
  // given up (pings unanswered), which leaves a gap and resets the producer's sequence.
  const producer = new Producer({
    url: `ws://127.0.0.1:${proxy.port}`, lingerMs: 0, retries: 0, pingIntervalMs: 300,
    reconnectBackoffMs: 20, reconnectBackoffMaxMs: 200, requestTimeoutMs: 60_000,
  });
  t.after(() => producer.close());
  await producer.send('t', { value: 'first', partition: 0 });

  // The link stalls with 'late' on its way; the client gives up on the connection (and on
  // 'late'), reconnects and sends 'after'. The stalled bytes still reach the broker afterwards,
  // as TCP delivers what was sent before the client's FIN.
  proxy.holdOpen('toServer');
  const late = producer.send('t', { value: 'late', partition: 0 });
  await proxy.whenKept('toServer');
  await assert.rejects(late, (e: Error & { code?: string }) => e.code === 'NETWORK_ERROR', 'failed with the connection');
  await producer.send('t', { value: 'after', partition: 0 });
  proxy.release();
  // The broker has handled three produce requests: 'first', 'after', and the late copy of 'late'.
  await waitForMetric(broker.httpUrl, 'sluice_requests_total', { api: 'Produce' }, (v) => v >= 3);

  const c = await RawClient.connect(broker.url);
  try {
    // Before the epoch bump: ['first', 'after', 'late'] (a new producer id; the old id's next sequence was still welcome).
    assert.deepEqual((await readAll(c, 't', 0)).map(([, v]) => v), ['first', 'after'], 'the late copy was refused (an older epoch), not stored behind the later send');
  } finally {
    c.close();
  }
});
