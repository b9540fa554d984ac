import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRequest } from '../../src/protocol/parse-request.js';
import { RequestError } from '../../src/protocol/request-error.js';
import { FrameError, CLOSE_POLICY_VIOLATION } from '../../src/protocol/frame-error.js';
import { Api } from '../../src/protocol/api.js';
import { topicNameProblem } from '../../src/topic-name.js';
import { topicConfigProblem } from '../../src/protocol/topic-config.js';

const produce = () => ({ id: 5, api: Api.Produce, version: 0, acks: 1, partitions: [{ topic: 't', partition: 0, records: Buffer.from([1]) }] });
const fetch = () => ({ id: 6, api: Api.Fetch, version: 0, maxWaitMs: 100, minBytes: 1, maxBytes: 1000, partitions: [{ topic: 't', partition: 0, offset: 0, maxBytes: 100 }] });

function rejects(msg: Record<string, unknown>, code: string, match?: RegExp): void {
  assert.throws(() => parseRequest(msg), (e: unknown) => {
    assert.ok(e instanceof RequestError, `expected RequestError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.equal(e.id, msg.id);
    if (match) assert.match(e.message, match);
    return true;
  });
}

test('valid requests of every api pass and come back typed', () => {
  const ok: Record<string, unknown>[] = [produce(), fetch(),
    { id: 1, api: Api.ListOffsets, version: 0, partitions: [{ topic: 't', partition: 0, timestamp: -2 }] },
    { id: 2, api: Api.Metadata, version: 0 }, { id: 2, api: Api.Metadata, version: 0, topics: null }, { id: 2, api: Api.Metadata, version: 0, topics: ['a'] },
    { id: 3, api: Api.CreateTopics, version: 0, topics: [{ name: 'a', partitions: 3, config: { retentionMs: 5 } }, { name: 'b', partitions: 1 }] },
    { id: 4, api: Api.DeleteTopics, version: 0, topics: ['a'] },
    { id: 4, api: Api.DescribeTopics, version: 0, topics: [] },
    { id: 0xffffffff, api: Api.CreatePartitions, version: 0, topics: [{ name: 'a', totalPartitions: 4 }] }];
  for (const m of ok) assert.equal(parseRequest(m).id, m.id);
});

test('plain Uint8Array records become Buffers', () => {
  const m = produce();
  (m.partitions[0] as { records: Uint8Array }).records = new Uint8Array([1, 2]);
  const r = parseRequest(m) as unknown as { partitions: { records: Buffer }[] };
  assert.ok(Buffer.isBuffer(r.partitions[0].records));
});

test('no readable id closes the connection (FrameError 1008)', () => {
  for (const id of [undefined, -1, 1.5, 'x', 2 ** 32, null]) {
    assert.throws(() => parseRequest({ ...produce(), id }), (e: unknown) => e instanceof FrameError && e.closeCode === CLOSE_POLICY_VIOLATION);
  }
});

test('unknown api and unsupported version', () => {
  rejects({ id: 1, api: 999, version: 0 }, 'UNKNOWN_API');
  rejects({ id: 1, api: Api.Fetch, version: 1 }, 'UNSUPPORTED_VERSION');
  rejects({ id: 1, api: Api.Fetch, version: -1 }, 'UNSUPPORTED_VERSION');
  rejects({ id: 1, api: '0', version: 0 }, 'INVALID_REQUEST', /api/);
  rejects({ id: 1, api: 0 }, 'INVALID_REQUEST', /version/);
});

test('produce: acks, field types, missing fields', () => {
  rejects({ ...produce(), acks: 2 }, 'INVALID_REQUIRED_ACKS');
  rejects({ ...produce(), acks: '1' }, 'INVALID_REQUIRED_ACKS');
  rejects({ ...produce(), partitions: {} }, 'INVALID_REQUEST', /partitions must be an array/);
  rejects({ ...produce(), partitions: [1] }, 'INVALID_REQUEST', /partitions\[0\] must be a map/);
  rejects({ ...produce(), partitions: [{ topic: 't', partition: 0, records: [1, 2] }] }, 'INVALID_REQUEST', /partitions\[0\]\.records must be binary/);
  rejects({ ...produce(), partitions: [{ topic: 't', partition: 0, records: 'abc' }] }, 'INVALID_REQUEST', /records/);
  rejects({ ...produce(), partitions: [{ partition: 0, records: Buffer.alloc(1) }] }, 'INVALID_REQUEST', /topic must be a string/);
  rejects({ ...produce(), partitions: [{ topic: 't', partition: 1.5, records: Buffer.alloc(1) }] }, 'INVALID_REQUEST', /partition must be an integer/);
  rejects({ ...produce(), partitions: [{ topic: 't', partition: -1, records: Buffer.alloc(1) }] }, 'INVALID_REQUEST', /partition must be in/);
});

test('fetch: negative sizes, non-integer offsets', () => {
  rejects({ ...fetch(), maxBytes: -1 }, 'INVALID_REQUEST', /maxBytes/);
  rejects({ ...fetch(), minBytes: -5 }, 'INVALID_REQUEST', /minBytes/);
  rejects({ ...fetch(), maxWaitMs: 'soon' }, 'INVALID_REQUEST', /maxWaitMs/);
  const f = fetch();
  f.partitions.push({ topic: 't', partition: 1, offset: 1.25, maxBytes: 1 });
  rejects(f, 'INVALID_REQUEST', /partitions\[1\]\.offset must be an integer/);
  const g = fetch();
  g.partitions[0].maxBytes = -1;
  rejects(g, 'INVALID_REQUEST', /partitions\[0\]\.maxBytes/);
  const h = fetch();
  h.partitions[0].offset = -3;
  rejects(h, 'INVALID_REQUEST');
});

test('admin apis: wrong types', () => {
  rejects({ id: 1, api: Api.Metadata, version: 0, topics: 'a' }, 'INVALID_REQUEST', /topics/);
  rejects({ id: 1, api: Api.DeleteTopics, version: 0, topics: [1] }, 'INVALID_REQUEST', /topics\[0\]/);
  rejects({ id: 1, api: Api.CreateTopics, version: 0, topics: [{ name: 'a', partitions: '3' }] }, 'INVALID_REQUEST', /partitions/);
  rejects({ id: 1, api: Api.CreateTopics, version: 0, topics: [{ name: 'a', partitions: 1, config: 5 }] }, 'INVALID_REQUEST', /config/);
  rejects({ id: 1, api: Api.ListOffsets, version: 0, partitions: [{ topic: 't', partition: 0, timestamp: -3 }] }, 'INVALID_REQUEST', /timestamp/);
  rejects({ id: 1, api: Api.CreatePartitions, version: 0, topics: [{ name: 'a' }] }, 'INVALID_REQUEST', /totalPartitions/);
});

test('topic names: hostile names are refused, normal ones pass', () => {
  for (const bad of ['', '.', '..', '../etc', 'a/b', 'a\\b', 'a\0b', 'x'.repeat(250), 'é', 'a b']) assert.ok(topicNameProblem(bad), bad);
  for (const good of ['orders', 'a.b-c_d', '..a', 'x'.repeat(249)]) assert.equal(topicNameProblem(good), undefined, good);
});

test('topic config: unknown keys and bad values are named', () => {
  assert.equal(topicConfigProblem({ retentionMs: -1, segmentBytes: 1 << 20 }), undefined);
  assert.match(topicConfigProblem({ retention: 5 }) ?? '', /unknown topic config 'retention'/);
  assert.match(topicConfigProblem({ segmentBytes: 'big' }) ?? '', /segmentBytes/);
  assert.match(topicConfigProblem({ flushMs: -2 }) ?? '', /flushMs/);
});
