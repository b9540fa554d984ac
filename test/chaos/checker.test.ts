/**
 * The chaos checker (scripts/chaos/checker.ts) on hand-made histories and logs: each check
 * must name the anomaly it exists for, with its evidence, and stay quiet on a legal history
 * (concurrent operations, unknown outcomes, redelivery before an ack).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeBatch } from '../../src/record/encoder.js';
import {
  checkCommits, checkConsumed, checkProduce, checkQueue, compareReplicas, deadLetters, longestUnavailability, type LogRecord,
} from '../../scripts/chaos/checker.js';
import { deadLetterRecord } from '../../src/queue/dead-letter.js';
import { jobPlan } from '../../scripts/chaos/queue-workload.js';
import type { Op, OpType } from '../../scripts/chaos/history.js';

/** A history built by hand: op(process, f, type, time, value) with completions paired to the last invoke of that process. */
function history() {
  const ops: Op[] = [];
  const open = new Map<string, number>();
  const add = (process: string, f: string, type: OpType, time: number, value?: unknown): Op => {
    const invokeIndex = type === 'invoke' ? undefined : open.get(process);
    const op: Op = { index: ops.length, process, f, type, time, ...(value === undefined ? {} : { value }), ...(invokeIndex === undefined ? {} : { invokeIndex }) };
    if (type === 'invoke') open.set(process, op.index);
    ops.push(op);
    return op;
  };
  return { ops, add };
}

const T = 'chaos-data';

function produced(add: ReturnType<typeof history>['add'], proc: string, value: string, partition: number, offset: number | 'info', t: number) {
  add(proc, 'produce', 'invoke', t, { topic: T, partition, value });
  if (offset === 'info') add(proc, 'produce', 'info', t + 1, { topic: T, partition, value });
  else add(proc, 'produce', 'ok', t + 1, { topic: T, partition, value, offset });
}

const log = (...values: string[]): LogRecord[] => values.map((value, offset) => ({ offset, value }));

test('produce: an acknowledged value at its offset, once, in send order, is no anomaly; an unknown send may be stored or not', () => {
  const { ops, add } = history();
  produced(add, 'producer-1', 'p1-0', 0, 0, 0);
  produced(add, 'producer-1', 'p1-1', 0, 'info', 10);
  produced(add, 'producer-1', 'p1-2', 0, 2, 20);
  produced(add, 'producer-1', 'p1-3', 0, 'info', 30);
  assert.deepEqual(checkProduce(ops, T, new Map([[0, log('p1-0', 'p1-1', 'p1-2')]])), []);
});

test('produce: lost, moved, duplicate, phantom and reordered records are each named with their evidence', () => {
  const { ops, add } = history();
  produced(add, 'producer-1', 'p1-0', 0, 0, 0);
  produced(add, 'producer-1', 'p1-1', 0, 1, 10);
  produced(add, 'producer-1', 'p1-2', 0, 2, 20);
  produced(add, 'producer-1', 'p1-3', 0, 'info', 30);
  produced(add, 'producer-1', 'p1-4', 0, 3, 40);
  // p1-0 lost; p1-2 stored at 0 (moved); p1-3 stored twice; p9-9 never sent; p1-4 before p1-2 (reordered).
  const anomalies = checkProduce(ops, T, new Map([[0, log('p1-2', 'p1-1', 'p1-3', 'p1-4', 'p1-3', 'p9-9')]]));
  const kinds = anomalies.map((a) => a.kind).sort();
  assert.deepEqual(kinds, ['duplicate', 'lost', 'moved', 'phantom', 'reordered', 'reordered']);
  const lost = anomalies.find((a) => a.kind === 'lost')!;
  assert.equal(lost.evidence.value, 'p1-0');
  assert.equal(lost.evidence.ackedOffset, 0);
  assert.deepEqual(anomalies.find((a) => a.kind === 'moved')!.evidence.storedAt, [{ partition: 0, offset: 0 }]);
  assert.deepEqual(anomalies.find((a) => a.kind === 'duplicate')!.evidence.storedAt, [{ partition: 0, offset: 2 }, { partition: 0, offset: 4 }]);
});

test('replicas: identical bytes pass; different bytes name the first differing record on each node', () => {
  const a = Buffer.concat([encodeBatch([{ value: 'x' }, { value: 'y' }], { baseOffset: 0 })]);
  const b = Buffer.concat([encodeBatch([{ value: 'x' }], { baseOffset: 0 }), encodeBatch([{ value: 'z' }], { baseOffset: 1 })]);
  assert.deepEqual(compareReplicas(T, 0, [{ nodeId: 1, bytes: a }, { nodeId: 2, bytes: Buffer.from(a) }]), []);
  const [d, ...rest] = compareReplicas(T, 0, [{ nodeId: 1, bytes: a }, { nodeId: 2, bytes: Buffer.from(a) }, { nodeId: 3, bytes: b }]);
  assert.equal(rest.length, 0);
  assert.equal(d!.kind, 'replicas-differ');
  assert.deepEqual(d!.evidence.nodes, [1, 3]);
  assert.deepEqual(d!.evidence.firstDifference, { index: 1, node1: { offset: 1, value: 'y' }, node3: { offset: 1, value: 'z' } });
});

test('consumed: a record read that the final log does not hold at that offset is read-then-lost', () => {
  const { ops, add } = history();
  add('consumer-1', 'consume', 'invoke', 0, { topic: T, partition: 0, offsets: [0, 1], values: ['p1-0', 'p1-1'] });
  add('consumer-1', 'consume', 'ok', 0, { topic: T, partition: 0, offsets: [0, 1], values: ['p1-0', 'p1-1'] });
  assert.deepEqual(checkConsumed(ops, T, new Map([[0, log('p1-0', 'p1-1')]])), []);
  const [a] = checkConsumed(ops, T, new Map([[0, log('p1-0', 'p2-7')]]));
  assert.equal(a!.kind, 'read-then-lost');
  assert.equal(a!.evidence.offset, 1);
  assert.equal(a!.evidence.inFinalLog, 'p2-7');
});

test('commits: a read after a commit completed may not answer less; a read concurrent with the commit may', () => {
  const legal = history();
  legal.add('consumer-1', 'commit', 'invoke', 0, { group: 'g', offsets: { 0: 10 } });
  legal.add('offset-reader', 'read-offsets', 'invoke', 5, { group: 'g' });
  legal.add('consumer-1', 'commit', 'ok', 8, { group: 'g', offsets: { 0: 10 } });
  legal.add('offset-reader', 'read-offsets', 'ok', 9, { group: 'g', offsets: { 0: 4 } });
  legal.add('offset-reader', 'read-offsets', 'invoke', 20, { group: 'g' });
  legal.add('offset-reader', 'read-offsets', 'ok', 21, { group: 'g', offsets: { 0: 12 } });
  assert.deepEqual(checkCommits(legal.ops), []);

  const lost = history();
  lost.add('consumer-1', 'commit', 'invoke', 0, { group: 'g', offsets: { 0: 10, 1: 3 } });
  lost.add('consumer-1', 'commit', 'ok', 1, { group: 'g', offsets: { 0: 10, 1: 3 } });
  lost.add('offset-reader', 'read-offsets', 'invoke', 5, { group: 'g' });
  lost.add('offset-reader', 'read-offsets', 'ok', 6, { group: 'g', offsets: { 0: 12, 1: 3 } });
  // The coordinator lost the group: nothing committed, then an older offset.
  lost.add('offset-reader', 'read-offsets', 'invoke', 10, { group: 'g' });
  lost.add('offset-reader', 'read-offsets', 'ok', 11, { group: 'g', offsets: { 0: 7 } });
  const found = checkCommits(lost.ops);
  assert.deepEqual(found.map((a) => [a.kind, a.evidence.partition, a.evidence.read, a.evidence.earlier]).sort(),
    [['commit-went-back', '0', 7, 12], ['commit-went-back', '1', -1, 3]]);
});

test('queue: redelivery before an ack is legal; a delivery after an ack succeeded, or a job never acked, is an anomaly', () => {
  const { ops, add } = history();
  add('enqueuer', 'enqueue', 'invoke', 0, { value: 'j-0' });
  add('enqueuer', 'enqueue', 'ok', 1, { value: 'j-0', offset: 0 });
  add('enqueuer', 'enqueue', 'invoke', 2, { value: 'j-1' });
  add('enqueuer', 'enqueue', 'ok', 3, { value: 'j-1', offset: 1 });
  add('worker-1', 'deliver', 'invoke', 4, { value: 'j-0', deliveryCount: 1 });
  add('worker-1', 'deliver', 'ok', 4, { value: 'j-0', deliveryCount: 1 });
  add('worker-2', 'deliver', 'invoke', 5, { value: 'j-0', deliveryCount: 2 });
  add('worker-2', 'deliver', 'ok', 5, { value: 'j-0', deliveryCount: 2 });
  add('worker-2', 'ack', 'invoke', 6, { value: 'j-0' });
  add('worker-2', 'ack', 'ok', 7, { value: 'j-0' });
  assert.deepEqual(checkQueue(ops).map((a) => [a.kind, a.evidence.job]), [['job-never-acked', 'j-1']]);
  add('worker-1', 'deliver', 'invoke', 9, { value: 'j-0', deliveryCount: 1 });
  add('worker-1', 'deliver', 'ok', 9, { value: 'j-0', deliveryCount: 1 });
  const again = checkQueue(ops).find((a) => a.kind === 'acked-job-delivered-again')!;
  assert.deepEqual([again.evidence.job, again.evidence.settledAtMs, again.evidence.deliveredAtMs], ['j-0', 7, 9]);
});

/** A job enqueued at `t` and delivered at each of `counts` (worker-1, 1 ms apart). */
function deliveredAt(add: ReturnType<typeof history>['add'], job: string, t: number, counts: number[]) {
  add('enqueuer', 'enqueue', 'invoke', t, { value: job });
  add('enqueuer', 'enqueue', 'ok', t, { value: job, offset: 0 });
  counts.forEach((deliveryCount, i) => {
    add('worker-1', 'deliver', 'invoke', t + 1 + i, { value: job, deliveryCount });
    add('worker-1', 'deliver', 'ok', t + 1 + i, { value: job, deliveryCount });
  });
}

function settled(add: ReturnType<typeof history>['add'], proc: string, f: 'ack' | 'reject', job: string, t: number) {
  add(proc, f, 'invoke', t, { value: job });
  add(proc, f, 'ok', t + 1, { value: job });
}

test('queue: a delivery count that falls or repeats is an anomaly; counts that rise are legal', () => {
  const { ops, add } = history();
  deliveredAt(add, 'j-0', 0, [1, 2, 3]);
  deliveredAt(add, 'j-1', 10, [1, 3, 2]);
  deliveredAt(add, 'j-2', 20, [2, 2]);
  for (const [j, t] of [['j-0', 30], ['j-1', 32], ['j-2', 34]] as const) settled(add, 'worker-1', 'ack', j, t);
  const found = checkQueue(ops);
  assert.deepEqual(found.map((a) => [a.kind, a.evidence.job, a.evidence.deliveryCount, (a.evidence.earlier as { deliveryCount: number }).deliveryCount]),
    [['delivery-count-went-back', 'j-1', 2, 3], ['delivery-count-repeated', 'j-2', 2, 2]]);
});

test('queue: two settles of one job that both succeed, an ack among them, are an anomaly (two workers told they owned it)', () => {
  const { ops, add } = history();
  deliveredAt(add, 'j-0', 0, [1]);
  settled(add, 'worker-1', 'ack', 'j-0', 5);
  settled(add, 'worker-2', 'ack', 'j-0', 6);
  deliveredAt(add, 'j-1', 10, [1]);
  settled(add, 'worker-1', 'reject', 'j-1', 15);
  settled(add, 'worker-2', 'ack', 'j-1', 16);
  const found = checkQueue(ops, []);
  assert.deepEqual(found.filter((a) => a.kind === 'job-settled-twice').map((a) => [a.evidence.job, (a.evidence.second as { by: string }).by]),
    [['j-0', 'worker-2'], ['j-1', 'worker-2']]);
});

test('queue: a rejected job handed out again is an anomaly (the hold survives a coordinator change), and so is a second reject', () => {
  // Chaos seed 75 before the hold was persisted: rejected at 8.8 s, the share coordinator
  // SIGKILLed before the dead-letter copy was written (its first write failed, retried 1 s
  // later), the next one handed it out at count 2.
  const { ops, add } = history();
  deliveredAt(add, 'j-11', 0, [1]);
  settled(add, 'worker-1', 'reject', 'j-11', 5);
  deliveredAt(add, 'j-12', 6, [1]);
  settled(add, 'worker-1', 'ack', 'j-12', 8);
  add('worker-2', 'deliver', 'invoke', 10, { value: 'j-11', deliveryCount: 2 });
  add('worker-2', 'deliver', 'ok', 10, { value: 'j-11', deliveryCount: 2 });
  settled(add, 'worker-2', 'reject', 'j-11', 11);
  const dl = deadLetterRecord({ key: null, value: Buffer.from('j-11'), headers: [], timestamp: 0 }, {
    group: 'g', topic: 'chaos-jobs', partition: 1, offset: 5, deliveryCount: 2, cause: 'rejected', reason: 'r', deadLetterTopic: 'chaos-jobs.dlq',
  });
  const found = checkQueue(ops, deadLetters(encodeBatch([dl], { baseOffset: 0 })));
  assert.deepEqual(found.map((a) => [a.kind, a.evidence.job]), [['job-settled-twice', 'j-11'], ['rejected-job-delivered-again', 'j-11']]);
  assert.equal((found[1]!.evidence as { deliveryCount: number }).deliveryCount, 2);
});

test('queue: a rejected job must be in the dead-letter topic (twice is legal), an acked one must not; a job dead-lettered for its deliveries is settled', () => {
  const dl = (job: string, offset: number, cause: 'rejected' | 'max-deliveries') => deadLetterRecord({ key: null, value: Buffer.from(job), headers: [], timestamp: 0 }, {
    group: 'g', topic: 'chaos-jobs', partition: 0, offset, deliveryCount: cause === 'rejected' ? 1 : 5, cause, reason: 'r', deadLetterTopic: 'chaos-jobs.dlq',
  });
  // The helper reads them back from a batch as the run reads the topic's segment files.
  const dlq = deadLetters(encodeBatch([dl('j-0', 0, 'rejected'), dl('j-0', 0, 'rejected'), dl('j-2', 2, 'max-deliveries'), dl('j-3', 3, 'rejected')], { baseOffset: 0 }));
  assert.deepEqual(dlq.map((r) => [r.offset, r.value, r.cause, r.deliveryCount, r.sourceOffset]),
    [[0, 'j-0', 'rejected', 1, 0], [1, 'j-0', 'rejected', 1, 0], [2, 'j-2', 'max-deliveries', 5, 2], [3, 'j-3', 'rejected', 1, 3]]);
  const { ops, add } = history();
  deliveredAt(add, 'j-0', 0, [1]);
  settled(add, 'worker-1', 'reject', 'j-0', 3);
  deliveredAt(add, 'j-1', 10, [1]);
  settled(add, 'worker-1', 'reject', 'j-1', 13);
  deliveredAt(add, 'j-2', 20, [1, 2, 3, 4, 5]);
  deliveredAt(add, 'j-3', 30, [1]);
  settled(add, 'worker-1', 'ack', 'j-3', 33);
  assert.deepEqual(checkQueue(ops, dlq).map((a) => [a.kind, a.evidence.job]),
    [['rejected-job-not-dead-lettered', 'j-1'], ['acked-job-dead-lettered', 'j-3']]);
  // Without the topic's records (not read), only the history's checks run: j-2 was never settled.
  assert.deepEqual(checkQueue(ops).map((a) => [a.kind, a.evidence.job]), [['job-never-acked', 'j-2']]);
});

test('queue workload: its plan rejects every 23rd job, fails every 7th once, acks the rest', () => {
  assert.equal(jobPlan('j-11', 1), 'reject');
  assert.equal(jobPlan('j-11', 2), 'reject');
  assert.equal(jobPlan('j-3', 1), 'release');
  assert.equal(jobPlan('j-3', 2), 'ack');
  assert.equal(jobPlan('j-4', 1), 'ack');
});

test('queue: a job whose only ack ended indeterminate counts as acked only when the group ended holding nothing', () => {
  const base = () => {
    const { ops, add } = history();
    add('enqueuer', 'enqueue', 'invoke', 0, { value: 'j-0' });
    add('enqueuer', 'enqueue', 'ok', 1, { value: 'j-0', offset: 0 });
    add('worker-1', 'deliver', 'invoke', 2, { value: 'j-0', deliveryCount: 1 });
    add('worker-1', 'deliver', 'ok', 2, { value: 'j-0', deliveryCount: 1 });
    add('worker-1', 'ack', 'invoke', 3, { value: 'j-0' });
    add('worker-1', 'ack', 'info', 4, { value: 'j-0' });
    return { ops, add };
  };
  const kinds = (ops: Parameters<typeof checkQueue>[0]) => checkQueue(ops).map((a) => [a.kind, a.evidence.job]);
  // No final state recorded: nothing says the ack took effect.
  assert.deepEqual(kinds(base().ops), [['job-never-acked', 'j-0']]);
  // The group still holds a job (in flight, or available): the lost ack may not have been applied.
  for (const held of [{ available: 0, delayed: 0, inFlight: 1 }, { available: 1, delayed: 0, inFlight: 0 }, { available: 0, delayed: 1, inFlight: 0 }]) {
    const { ops, add } = base();
    add('queue-admin', 'queue-state', 'invoke', 5, { group: 'g' });
    add('queue-admin', 'queue-state', 'ok', 6, held);
    assert.deepEqual(kinds(ops), [['job-never-acked', 'j-0']], JSON.stringify(held));
  }
  // The group ended empty: the job was acked there (its ack's answer was what got lost).
  const { ops, add } = base();
  add('queue-admin', 'queue-state', 'invoke', 5, { group: 'g' });
  add('queue-admin', 'queue-state', 'ok', 6, { available: 0, delayed: 0, inFlight: 0 });
  assert.deepEqual(kinds(ops), []);
});

test('unavailability: the longest gap between acknowledged produces per partition, counted from the start and to the end', () => {
  const { ops, add } = history();
  produced(add, 'producer-0', 'p0-0', 0, 0, 100);
  produced(add, 'producer-0', 'p0-1', 0, 1, 200);
  produced(add, 'producer-0', 'p0-2', 0, 2, 5000);
  produced(add, 'producer-1', 'p1-0', 1, 0, 100);
  const u = longestUnavailability(ops, T, 3, 0, 6000);
  assert.deepEqual(u['0'], { ms: 4800, fromMs: 201, toMs: 5001 });
  assert.deepEqual(u['1'], { ms: 5899, fromMs: 101, toMs: 6000 });
  assert.deepEqual(u['2'], { ms: 6000, fromMs: 0, toMs: 6000 });
});
