// The dead-letter writer refuses what a produce refuses: an internal topic (the broker's
// offsets or share state log) or an illegal name, before it appends anything to it; it
// reports that topic's dead letters as failed (so their records are not archived) and still
// writes the other topics of the same call. Group configs
// are checked when set (share-config.ts); this covers a name that reaches the writer anyway
// (a config replayed from a log an older broker wrote).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeDeadLetters } from '../../src/broker/share-dead-letters.js';
import type { DeadLetter } from '../../src/queue/types.js';
import { SluiceError } from '../../src/errors.js';
import { encodeBatch } from '../../src/record/index.js';
import { testContext } from './test-context.js';

test('dead letters bound for an internal or illegal topic are refused, reported as failed, and nothing is appended there', async (t) => {
  const { ctx, logs, close } = await testContext();
  t.after(close);
  await logs.createTopic('jobs', 1);
  await logs.log('jobs', 0)!.append(encodeBatch([{ key: 'not json', value: 'x' }]));
  await logs.createTopic('__consumer_offsets-0', 1);
  const dl = (deadLetterTopic: string): DeadLetter => ({
    group: 'g', topic: 'jobs', partition: 0, offset: 0, deliveryCount: 1, cause: 'rejected', reason: 'test', deadLetterTopic,
  });

  for (const bad of ['__consumer_offsets-0', '__share_state-0', '../escape']) {
    const res = await writeDeadLetters(ctx, [dl('jobs.dlq'), dl(bad)]);
    assert.equal(res.failed.length, 1, bad);
    const [f] = res.failed;
    assert.equal(f.topic, bad);
    assert.deepEqual(f.dls, [dl(bad)]);
    assert.ok(f.error instanceof SluiceError && f.error.code === 'INVALID_TOPIC', String(f.error));
    assert.match((f.error as Error).message, /dead-letter topic/);
    assert.deepEqual(res.written, [dl('jobs.dlq')], 'the legal topic of the same call is written');
  }
  assert.equal(logs.log('__consumer_offsets-0', 0)!.logEndOffset, 0, 'nothing reached the offsets log');
  assert.equal(logs.topic('__share_state-0'), undefined, 'no internal topic was created');
  assert.equal(logs.log('jobs.dlq', 0)!.logEndOffset, 3);
});
