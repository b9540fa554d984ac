// The controller's record of handled broker epochs (KIP-380): who counts as bounced, what is
// recorded after a pass, and a stored value no broker wrote.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bouncedBrokers, decodeBrokerEpochs, encodeBrokerEpochs, handledEpochs } from '../../src/cluster/broker-epochs.js';

const m = (o: Record<number, number>) => new Map(Object.entries(o).map(([k, v]) => [Number(k), v]));

test('a live broker at another epoch than the one handled bounced; one never handled is first seen', () => {
  assert.deepEqual(bouncedBrokers(m({ 1: 10, 2: 11, 3: 12 }), m({ 1: 10, 2: 40, 4: 41 })), [2]);
  assert.deepEqual(bouncedBrokers(new Map(), m({ 1: 10 })), []);
});

test('the record after a pass: live brokers at their epochs now, dead ones dropped; nothing to write when nothing changed', () => {
  assert.equal(handledEpochs(m({ 1: 10, 2: 11 }), m({ 1: 10, 2: 11 })), undefined, 'nothing changed');
  assert.deepEqual(handledEpochs(m({ 1: 10, 2: 11 }), m({ 1: 10 })), m({ 1: 10 }), 'broker 2 died: the pass handled its death');
  assert.deepEqual(handledEpochs(m({ 1: 10, 2: 11 }), m({ 1: 10, 2: 40, 3: 41 })), m({ 1: 10, 2: 40, 3: 41 }));
  assert.deepEqual(handledEpochs(m({ 1: 10, 2: 11 }), m({ 2: 40 })), m({ 2: 40 }));
});

test('a broker whose death a pass handled comes back as a start-up, not a bounce; one back before any pass ran without it bounced', () => {
  // Broker 2's lease lapsed, a pass ran without it (it left the ISRs then), then it registered again:
  // counted as bounced, its return would take it out of the ISRs its leaders had let it back into.
  const afterDeath = handledEpochs(m({ 1: 10, 2: 11 }), m({ 1: 10 }))!;
  assert.deepEqual(bouncedBrokers(afterDeath, m({ 1: 10, 2: 40 })), []);
  // No pass saw it gone (killed and back within one lease, or the controller was down meanwhile).
  assert.deepEqual(bouncedBrokers(m({ 1: 10, 2: 11 }), m({ 1: 10, 2: 40 })), [2]);
  // Gone as the pass started but back before it ended (the delete and the put a moment apart):
  // its decisions may have counted it live, so its old epoch stays and its return is a bounce.
  assert.equal(handledEpochs(m({ 1: 10, 2: 11 }), m({ 1: 10 }), m({ 1: 10, 2: 40 })), undefined, 'the record stays as it was');
  assert.deepEqual(bouncedBrokers(m({ 1: 10, 2: 11 }), m({ 1: 10, 2: 40 })), [2]);
});

test('the stored form round-trips, and a value no broker wrote is refused naming the entry', () => {
  const e = m({ 3: 30, 1: 10 });
  assert.equal(encodeBrokerEpochs(e), '{"1":10,"3":30}');
  assert.deepEqual(decodeBrokerEpochs(encodeBrokerEpochs(e)), e);
  assert.throws(() => decodeBrokerEpochs('[1,2]'), /not an object/);
  assert.throws(() => decodeBrokerEpochs('{"x":1}'), /entry "x"/);
  assert.throws(() => decodeBrokerEpochs('{"1":"ten"}'), /entry "1"/);
});
