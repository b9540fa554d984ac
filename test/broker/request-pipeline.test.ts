// The request pipeline on an in-memory transport: answers leave in completion order
// (native) or in request order (ordered, as Kafka's protocol requires), and the in-flight
// limit pauses and resumes reading.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RequestPipeline, type PipelineContext } from '../../src/broker/request-pipeline.js';
import { nativeCodec } from '../../src/broker/native-codec.js';
import type { Transport, TransportEvents } from '../../src/broker/transport.js';
import { BrokerBudget } from '../../src/broker/output-budget.js';
import { createLogger } from '../../src/broker/logger.js';
import { loadConfig } from '../../src/config/load-config.js';
import { NoopBrokerMetrics } from '../../src/metrics/noop-broker-metrics.js';
import { ReadBufferPool } from '../../src/storage/read-buffer-pool.js';
import { encodeFrame, decodeFrame } from '../../src/protocol/codec.js';
import { Api } from '../../src/protocol/api.js';

/** A transport that records what is sent and whether reading is paused. */
class MemoryTransport implements Transport {
  readonly remote = 'memory:0';
  readonly bufferedBytes = 0;
  readonly sent: Record<string, any>[] = [];
  paused = false;
  events!: TransportEvents;
  bind(events: TransportEvents): void { this.events = events; }
  send(parts: Uint8Array[], written?: () => void): void {
    this.sent.push(decodeFrame(Buffer.concat(parts)));
    written?.();
  }
  pauseReads(): void { this.paused = true; }
  resumeReads(): void { this.paused = false; }
  close(): void { this.events.close(1000, ''); }
  request(msg: Record<string, unknown>): void { this.events.frame([encodeFrame({ version: 0, ...msg })]); }
}

function setUp(ordered: boolean, maxInFlightPerConnection = 1024) {
  const config = { ...loadConfig({ env: {} }).config, maxInFlightPerConnection };
  const ctx: PipelineContext = {
    config, metrics: new NoopBrokerMetrics(), log: createLogger('error', () => {}),
    output: new BrokerBudget(1 << 30), readPool: new ReadBufferPool(), accepting: true,
  };
  const t = new MemoryTransport();
  const answers = new Map<number, (res: object) => void>();
  const p = new RequestPipeline(t, ctx, {
    codec: nativeCodec(config.maxRequestMsgpackBytes), ordered, onIdle: () => {},
    dispatch: (req) => new Promise((resolve) => answers.set(req.id, resolve)),
  });
  const answer = async (id: number) => {
    answers.get(id)!({ id, answered: id });
    await new Promise((r) => setImmediate(r)); // the pipeline's settle callback runs
  };
  return { t, p, answer };
}

test('native (out of order): each answer leaves as its request completes', async () => {
  const { t, answer } = setUp(false);
  for (const id of [1, 2, 3]) t.request({ id, api: Api.Metadata });
  await answer(3);
  await answer(2);
  assert.deepEqual(t.sent.map((m) => m.id), [3, 2]);
  await answer(1);
  assert.deepEqual(t.sent.map((m) => m.id), [3, 2, 1]);
});

test('ordered: answers leave in request order and count in flight until they leave', async () => {
  const { t, p, answer } = setUp(true);
  for (const id of [1, 2, 3]) t.request({ id, api: Api.Metadata });
  await answer(3);
  await answer(2);
  assert.equal(t.sent.length, 0, 'nothing before the first request is answered');
  assert.equal(p.inFlight, 3);
  await answer(1);
  assert.deepEqual(t.sent.map((m) => m.id), [1, 2, 3]);
  assert.equal(p.inFlight, 0);
  // The line is empty again: a new request is answered at once.
  t.request({ id: 4, api: Api.Metadata });
  await answer(4);
  assert.deepEqual(t.sent.map((m) => m.id), [1, 2, 3, 4]);
});

test('ordered: a refused request waits behind the ones before it', async () => {
  const { t, answer } = setUp(true);
  t.request({ id: 1, api: Api.Metadata });
  t.request({ id: 2, api: 9999 }); // UNKNOWN_API, refused before dispatch
  assert.equal(t.sent.length, 0);
  await answer(1);
  assert.deepEqual(t.sent.map((m) => [m.id, m.error?.code]), [[1, undefined], [2, 1000]]);
});

test('the in-flight limit pauses reading and an answer resumes it; a frame read past it is refused', async () => {
  const { t, answer } = setUp(false, 2);
  t.request({ id: 1, api: Api.Metadata });
  assert.equal(t.paused, false);
  t.request({ id: 2, api: Api.Metadata });
  assert.equal(t.paused, true);
  t.request({ id: 3, api: Api.Metadata }); // already read when the pause came
  assert.deepEqual(t.sent.map((m) => [m.id, m.error?.code]), [[3, 1001]]);
  await answer(1);
  assert.equal(t.paused, false);
});
