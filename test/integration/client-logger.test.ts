// A library is silent unless handed a logger: the Consumer and the QueueConsumer used to
// write their diagnostics to the application's stderr by default. Each case below hits a
// warning path twice, once with no logger (nothing may reach stderr) and once with one
// (the warning must reach it, pino-style: fields, then the message).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type BrokerHandle } from './harness.js';
import { Admin, Consumer, Producer, QueueConsumer, type Logger, type Message } from '../../src/client/index.js';

let broker: BrokerHandle;
let admin: Admin;
before(async () => {
  broker = await startBroker();
  admin = new Admin({ url: broker.url });
});
after(async () => {
  await admin.close();
  await broker.stop();
});

async function produce(topic: string, n: number): Promise<void> {
  await admin.createTopic(topic, 1);
  const p = new Producer({ url: broker.url });
  await p.send(topic, Array.from({ length: n }, (_, i) => ({ value: `v${i}` })));
  await p.close();
}

/** Runs `fn` with process.stderr.write captured; resolves with what was written meanwhile. */
async function stderrOf(fn: () => Promise<void>): Promise<string> {
  let out = '';
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string | Uint8Array) => { out += chunk.toString(); return true; }) as typeof process.stderr.write;
  try {
    await fn();
  } finally {
    process.stderr.write = write;
  }
  return out;
}

interface Entry { level: string; fields: object | string; msg: unknown }
function recorder(): Logger & { entries: Entry[] } {
  const entries: Entry[] = [];
  const at = (level: string) => (fields: object | string, msg?: unknown) => { entries.push({ level, fields, msg }); };
  return { entries, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** Seeks `c` past the end of the topic's log (a warning: reset per autoOffsetReset) and reads one message. */
async function readPastEnd(c: Consumer, topic = 'lg'): Promise<Message> {
  await c.assign(topic);
  c.seek({ topic, partition: 0 }, 99);
  for await (const m of c) return m; // leaving the loop closes the consumer
  throw new Error('the consumer ended without a message');
}

test('Consumer: an out-of-range offset reset writes nothing to stderr without a logger, and warns through the given one', async () => {
  await produce('lg', 3);
  let first: Message | undefined;
  const written = await stderrOf(async () => { first = await readPastEnd(new Consumer({ url: broker.url })); });
  assert.equal(first?.offset, 0, 'reset to earliest');
  assert.equal(written, '');

  const logger = recorder();
  const m = await readPastEnd(new Consumer({ url: broker.url, logger }));
  assert.equal(m.offset, 0);
  const warn = logger.entries.find((e) => e.level === 'warn');
  assert.ok(warn, JSON.stringify(logger.entries));
  assert.match(String(warn.msg), /offset 99 of lg\/0 is out of range .*resetting to earliest/);
  assert.deepEqual(warn.fields, { topic: 'lg', partition: 0, offset: 99, reset: 'earliest' });
});

test('Consumer: the removed log(line) option is no second way to log: a consumer given only it stays silent', async () => {
  await produce('lg-old', 3);
  const lines: string[] = [];
  // What a JavaScript application that still passes the old option hands over (it is no
  // longer a key of ConsumerOptions, so TypeScript code cannot pass it in a literal).
  const jsOptions = { url: broker.url, log: (line: string) => { lines.push(line); } };
  let first: Message | undefined;
  const written = await stderrOf(async () => { first = await readPastEnd(new Consumer(jsOptions), 'lg-old'); });
  assert.equal(first?.offset, 0, 'reset to earliest, the path that warns');
  assert.equal(written, '');
  assert.deepEqual(lines, []);
});

test('QueueConsumer: a job whose handler failed after settling it writes nothing to stderr without a logger, and warns through the given one', async () => {
  await produce('lq', 2);
  const work = async (logger?: Logger) => {
    const q = new QueueConsumer({ url: broker.url, groupId: 'g-lq', topics: 'lq', maxMessages: 1, maxWaitMs: 200, ...(logger ? { logger } : {}) });
    // run() ends once its one job's handler finished, and so after the failure was reported.
    await q.run(async (job) => {
      await job.ack();
      throw new Error(`handler failed after acking ${job.offset}`);
    });
    await q.close();
  };
  assert.equal(await stderrOf(() => work()), '');

  const logger = recorder();
  await work(logger);
  const warn = logger.entries.find((e) => e.level === 'warn');
  assert.ok(warn, JSON.stringify(logger.entries));
  assert.match(String(warn.msg), /^job lq\/0@1: handler failed after acking 1$/);
  assert.deepEqual(warn.fields, { groupId: 'g-lq', topic: 'lq', partition: 0, offset: 1 });
});
