// Consumer.run() and `for await` are at-least-once: a message whose handler threw is never committed and is
// delivered again, by the same consumer on its next run() and by the group after close().
// (The position used to move before the handler ran, so close() committed past a failed
// message and the group never saw it again.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Producer, type Message } from '../../src/client/index.js';
import { brokerForFile, groupConsumer } from './group-helpers.js';

const env = brokerForFile();

async function produce(topic: string, n: number): Promise<void> {
  await env.admin.createTopic(topic, 1);
  const p = new Producer({ url: env.broker.url });
  await p.send(topic, Array.from({ length: n }, (_, i) => ({ value: `v${i}` })));
  await p.close();
}

async function committed(groupId: string): Promise<number> {
  const [o] = await env.admin.fetchOffsets(groupId);
  return o.offset;
}

/**
 * Runs `c` until `n` messages were handled, then closes it from inside the handler (or
 * after 20 s without them, so that a message that never comes fails the test, not hangs it).
 */
async function takeThenClose(c: ReturnType<typeof groupConsumer>, n: number): Promise<number[]> {
  const got: number[] = [];
  const timer = setTimeout(() => void c.close(), 20_000);
  await c.run({ eachMessage: async (m) => { got.push(m.offset); if (got.length === n) await c.close(); } });
  clearTimeout(timer);
  return got;
}

test('eachMessage throws on offset 1: run() rejects, offset 1 is not committed, and it is delivered again', async () => {
  await produce('rf', 5);
  const a = groupConsumer(env.broker.url, 'g-rf', ['rf']);
  const handled: number[] = [];
  const boom = new Error('handler failed on offset 1');
  await assert.rejects(a.run({
    eachMessage: (m: Message) => {
      if (m.offset === 1) throw boom;
      handled.push(m.offset);
    },
  }), (e) => e === boom);
  assert.deepEqual(handled, [0]);

  // The same consumer, run again: the failed message comes first, nothing is skipped.
  assert.deepEqual(await takeThenClose(a, 2), [1, 2]);
  assert.equal(await committed('g-rf'), 3, 'close() from inside the handler commits the message that handler finished');

  // A failure then close() from outside: the group delivers the failed message again.
  const b = groupConsumer(env.broker.url, 'g-rf', ['rf']);
  await assert.rejects(b.run({ eachMessage: (m) => { if (m.offset === 3) throw boom; } }), (e) => e === boom);
  await b.close();
  assert.equal(await committed('g-rf'), 3, 'close() after a failed handler commits only what was handled');
  const c = groupConsumer(env.broker.url, 'g-rf', ['rf']);
  assert.deepEqual(await takeThenClose(c, 2), [3, 4]);
  assert.equal(await committed('g-rf'), 5);
});

test('eachBatch throws: the batch is not committed and is delivered again whole', async () => {
  await produce('rfb', 4);
  const a = groupConsumer(env.broker.url, 'g-rfb', ['rfb']);
  const boom = new Error('batch handler failed');
  let first: number[] = [];
  await assert.rejects(a.run({ eachBatch: (b) => { first = b.messages.map((m) => m.offset); throw boom; } }), (e) => e === boom);
  assert.equal(first[0], 0);
  await a.close();
  assert.equal(await committed('g-rfb'), 0, 'committed at the failed batch, not past it');

  const b = groupConsumer(env.broker.url, 'g-rfb', ['rfb']);
  const again: number[] = [];
  const timer = setTimeout(() => void b.close(), 20_000);
  await b.run({ eachBatch: async (batch) => { again.push(...batch.messages.map((m) => m.offset)); if (again.length >= 4) await b.close(); } });
  clearTimeout(timer);
  assert.deepEqual(again, [0, 1, 2, 3]);
  assert.equal(await committed('g-rfb'), 4);
});

// The same for `for await`: a message counts as handled when the loop asks for the next one.
// (The iterator used to move the position as it handed a message out, so a body that threw,
// or a break, committed the message it was handling and the group never delivered it again.)

test('for await: a body that throws on offset 1 leaves offset 1 committed, and the group delivers it again', async () => {
  await produce('itf', 4);
  const a = groupConsumer(env.broker.url, 'g-itf', ['itf']);
  const boom = new Error('body failed on offset 1');
  const seen: number[] = [];
  await assert.rejects((async () => {
    for await (const m of a) {
      seen.push(m.offset);
      if (m.offset === 1) throw boom;
    }
  })(), (e) => e === boom);
  await a.close(); // already closed by leaving the loop; a second close is harmless
  assert.deepEqual(seen, [0, 1]);
  assert.equal(await committed('g-itf'), 1, 'committed up to, not past, the message whose body threw');

  const b = groupConsumer(env.broker.url, 'g-itf', ['itf']);
  assert.deepEqual(await takeThenClose(b, 3), [1, 2, 3]);
  assert.equal(await committed('g-itf'), 4);
});

test('for await: break leaves the message being handled uncommitted; close() inside the body commits it once the loop goes on', async () => {
  await produce('itb', 5);
  const a = groupConsumer(env.broker.url, 'g-itb', ['itb']);
  for await (const m of a) if (m.offset === 2) break;
  assert.equal(await committed('g-itb'), 2, 'break at offset 2 commits offsets 0 and 1 only');

  const b = groupConsumer(env.broker.url, 'g-itb', ['itb']);
  const seen: number[] = [];
  for await (const m of b) {
    seen.push(m.offset);
    if (m.offset === 3) await b.close(); // stop after this message: it was handled
  }
  assert.deepEqual(seen, [2, 3]);
  assert.equal(await committed('g-itb'), 4, 'the message whose body called close() is committed once the body finishes');
});
