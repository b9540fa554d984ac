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

test('the record after a pass: live brokers at their epochs now, dead ones kept; nothing to write when nothing changed', () => {
  assert.equal(handledEpochs(m({ 1: 10, 2: 11 }), m({ 1: 10 })), undefined, 'broker 2 died: its death needs no record');
  assert.deepEqual(handledEpochs(m({ 1: 10, 2: 11 }), m({ 1: 10, 2: 40, 3: 41 })), m({ 1: 10, 2: 40, 3: 41 }));
  assert.deepEqual(handledEpochs(m({ 1: 10, 2: 11 }), m({ 2: 40 })), m({ 1: 10, 2: 40 }), 'a dead broker keeps its last epoch');
});

test('the stored form round-trips, and a value no broker wrote is refused naming the entry', () => {
  const e = m({ 3: 30, 1: 10 });
  assert.equal(encodeBrokerEpochs(e), '{"1":10,"3":30}');
  assert.deepEqual(decodeBrokerEpochs(encodeBrokerEpochs(e)), e);
  assert.throws(() => decodeBrokerEpochs('[1,2]'), /not an object/);
  assert.throws(() => decodeBrokerEpochs('{"x":1}'), /entry "x"/);
  assert.throws(() => decodeBrokerEpochs('{"1":"ten"}'), /entry "1"/);
});
