// A revocation that arrives with a fetch answer (both read in one tick, group-kill on CI):
// the consumer must not hand the application a batch of the partition after the revocation
// committed its position without that batch. Otherwise the new owner starts at the
// committed position and handles the batch again: a duplicate with no failure anywhere.
//
// Which microtask the heartbeat's continuation lands on depends on how many hops each
// answer takes, so the heartbeat's answer is released from 15 microtasks before to 15 after
// the fetch's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Consumer } from '../../src/client/index.js';
import { SILENT_LOGGER } from '../../src/client/logger.js';
import { Api } from '../../src/protocol/api.js';
import { encodeBatch } from '../../src/record/index.js';
import { FakeCluster } from './fake-cluster.js';

/** Runs `fn` exactly `n` microtasks from now (0: at once). */
function afterMicrotasks(n: number, fn: () => void): void {
  if (n === 0) fn();
  else queueMicrotask(() => afterMicrotasks(n - 1, fn));
}

async function scenario(delay: number, mode: 'run' | 'iterate'): Promise<{ handled: number[]; committed: number | undefined }> {
  const c = new FakeCluster(1);
  c.clustered = false;
  c.createTopic('t', [0]);
  c.append('t', 0, encodeBatch(Array.from({ length: 10 }, (_, i) => ({ value: `v${i}` }))));

  let revoke = false;
  let committed: number | undefined;
  let releaseFetch: (() => void) | undefined;
  let releaseBeat: (() => void) | undefined;
  let fetchHeld: () => void = () => {};
  const fetchAsked = new Promise<void>((r) => { fetchHeld = r; });
  c.answerOther = (api, body) => {
    if (api === Api.ConsumerGroupHeartbeat) {
      const partitions = revoke ? [] : [0];
      return { memberId: body.memberId, memberEpoch: 1, heartbeatIntervalMs: 5, assignment: [{ topic: 't', partitions }] };
    }
    if (api === Api.OffsetFetch) return { partitions: body.partitions.map((p: { topic: string; partition: number }) => ({ ...p, offset: -1, metadata: '' })) };
    if (api === Api.OffsetCommit) {
      for (const p of body.partitions) if (p.partition === 0) committed = p.offset;
      return { partitions: body.partitions.map((p: { topic: string; partition: number }) => ({ topic: p.topic, partition: p.partition })) };
    }
    return undefined;
  };
  c.holdAnswer = (api, body) => {
    // The first fetch that carries records, and the heartbeat after it (which revokes).
    if (api === Api.Fetch && !releaseFetch && body.partitions.some((p: { offset: number }) => p.offset === 0)) {
      revoke = true; // the next heartbeat's answer (decided before this hook runs) takes the partition away
      fetchHeld();
      return new Promise<void>((r) => { releaseFetch = r; });
    }
    if (api === Api.ConsumerGroupHeartbeat && revoke && !releaseBeat) return new Promise<void>((r) => { releaseBeat = r; });
    return undefined;
  };

  const consumer = new Consumer({
    url: c.url(0), connectionFactory: c.factory, groupId: 'g', topics: ['t'], autoOffsetReset: 'earliest',
    autoCommitIntervalMs: 600_000, maxWaitMs: 5, retryBackoffMs: 10, logger: SILENT_LOGGER,
  });
  const handled: number[] = [];
  const running = mode === 'run'
    ? consumer.run({ eachBatch: ({ messages }) => { for (const m of messages) handled.push(m.offset); } })
    : (async () => { for await (const m of consumer) handled.push(m.offset); })();
  try {
    await fetchAsked;
    for (const t0 = Date.now(); !releaseBeat; await new Promise((r) => setTimeout(r, 2))) {
      if (Date.now() - t0 > 30_000) throw new Error('the heartbeat after the fetch never came');
    }
    // Both answers in one tick: the fetch's first, the heartbeat's `delay` microtasks later.
    const [first, second] = delay >= 0 ? [releaseFetch!, releaseBeat] : [releaseBeat, releaseFetch!];
    first();
    afterMicrotasks(Math.abs(delay), second);
    for (const t0 = Date.now(); consumer.assignment().length > 0; await new Promise((r) => setTimeout(r, 2))) {
      if (Date.now() - t0 > 30_000) throw new Error('the partition was never released');
    }
  } finally {
    await consumer.close();
    await running.catch(() => {});
  }
  return { handled, committed };
}

for (const mode of ['run', 'iterate'] as const) {
  test(`${mode === 'run' ? 'run()' : 'for await'}: a batch fetched as its partition is revoked is handed out only if the release commit covers it`, async () => {
    for (let delay = -15; delay <= 15; delay++) {
      const { handled, committed } = await scenario(delay, mode);
      const after = handled.filter((o) => committed === undefined || o >= committed);
      assert.deepEqual(after, [], `heartbeat ${delay} microtasks after the fetch: handled ${after.join(',')} at or past the committed release position ${committed ?? '(none)'}`);
    }
  });
}
