// PartitionHold: a held partition is released once its backoff passed and the refresh it
// waits for settled, whether that refresh succeeded or failed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PartitionHold } from '../../src/client/partition-hold.js';

interface B { topic: string; partition: number; name: string }

test('a hold whose refresh fails ends all the same, and the failure is not an unhandled rejection', async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (err: unknown): void => { unhandled.push(err); };
  process.on('unhandledRejection', onUnhandled);
  try {
    let released: B[] | undefined;
    const gotBack = new Promise<void>((resolveP) => {
      const hold = new PartitionHold<B>((batches) => { released = batches; resolveP(); });
      const b: B = { topic: 't', partition: 0, name: 'first' };
      hold.sent(b);
      hold.hold(b, 0, Promise.reject(new Error('metadata refresh failed')));
      hold.settled(b);
      assert.equal(hold.muted(b), true, 'held until the refresh settled');
    });
    await gotBack;
    assert.deepEqual(released?.map((b) => b.name), ['first']);
    // An unhandled rejection is reported after the microtasks of the tick that made it.
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});
