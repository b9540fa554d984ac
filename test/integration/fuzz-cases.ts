/**
 * The wire fuzz's generators and checks, shared by the fixed-seed regression test
 * (broker-fuzz.test.ts, run by npm test) and the open-ended runner (scripts/fuzz.ts,
 * `npm run fuzz -- --duration S`), so both send the same frames and hold the broker to the
 * same promises. What is generated and what is checked: see broker-fuzz.test.ts.
 *
 * A fuzz session is one broker (started with FUZZ_BROKER_ARGS) holding a topic KNOWN with
 * known records and a pool of raw connections (Slot). runCase sends one generated frame and
 * throws an AssertionError naming the frame when the answer breaks a promise; checkAfterFuzz
 * checks the broker is alive and healthy and KNOWN is intact.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import type { BrokerHandle } from './harness.js';
import { RawClient } from './raw-client.js';
import { PRODUCER_IDS_FILE } from '../../src/storage/producer-id-counter.js';
import { batchOf, createTopic, produce, readAll } from './broker-helpers.js';
import { LIE_KINDS, lie } from '../record/batch-lies.js';
import { Api } from '../../src/protocol/api.js';
import { API_DEFINITIONS, apiName } from '../../src/protocol/api-table.js';
import { arbitraryOf } from '../protocol/schema-arbitrary.js';
import { ERRORS } from '../../src/protocol/errors.js';
import { encodeFrame, decodeFrame } from '../../src/protocol/codec.js';
import { readRequestId } from '../../src/protocol/parse-request.js';
import { isValidTopicName } from '../../src/topic-name.js';
import { FrameError } from '../../src/protocol/frame-error.js';
import { MAX_REQUEST_DEPTH, MAX_REQUEST_VALUES } from '../../src/protocol/frame-limits.js';

export const TIMEOUT_MS = 6000;
export const CONNECTIONS = 3;
const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

export const KNOWN = 'fuzz-known';
export const KNOWN_VALUES = ['alpha', 'beta', 'gamma', 'delta', 'epsilon'];
const SCRATCH = 'fuzz-scratch';
/** Every hostile name carries this marker, so an escape is found by name anywhere. */
const MARK = 'fz-esc';
const HOSTILE = [
  `../${MARK}`, `../../${MARK}`, `/tmp/${MARK}`, `${MARK}/../..`, `a/${MARK}`, `..\\${MARK}`, `${MARK}\0x`, '..', '.', '',
  `%2e%2e%2f${MARK}`, `..\u2215${MARK}`, `${MARK}\u00fc`, ` ${MARK}`, `${MARK}\n`, 'x'.repeat(250), '__consumer_offsets',
  '__share_state', `__${MARK}`,
];
const READ_TOPICS = [KNOWN, SCRATCH, 'fuzz-absent', ...HOSTILE];
const WRITE_TOPICS = [SCRATCH, 'fuzz-auto', 'fuzz-made', ...HOSTILE];
const GROUPS = ['fz-g1', 'fz-g2', '', 'g'.repeat(256), `../${MARK}`, '\0'];
const WORKERS = ['w1', 'w2', '', 'w'.repeat(300)];

const CODES = new Set<number>(Object.values(ERRORS).map((e) => e.code));
const NAMES = new Map<number, string>(Object.entries(ERRORS).map(([name, e]) => [e.code, name]));
const LIST_FIELD: Record<number, string> = {
  [Api.Produce]: 'partitions', [Api.Fetch]: 'partitions', [Api.ListOffsets]: 'partitions', [Api.Metadata]: 'topics',
  [Api.CreateTopics]: 'topics', [Api.DeleteTopics]: 'topics', [Api.CreatePartitions]: 'topics', [Api.DescribeTopics]: 'topics',
  [Api.OffsetCommit]: 'partitions', [Api.OffsetFetch]: 'partitions', [Api.OffsetDelete]: 'partitions', [Api.ListGroups]: 'groups',
  [Api.DescribeGroups]: 'groups', [Api.ConsumerGroupDescribe]: 'groups', [Api.DeleteGroups]: 'groups',
  [Api.ShareAcquire]: 'partitions', [Api.ShareAck]: 'results', [Api.ShareDescribe]: 'groups', [Api.VerifyTopic]: 'partitions',
  [Api.ApiVersions]: 'apis',
};

// --- generators ----------------------------------------------------------------------------

type Obj = Record<string, unknown>;

const pick = <T>(xs: readonly T[]) => fc.constantFrom(...xs);
const DANGEROUS_KEYS = ['toString', 'valueOf', '__proto__', 'constructor', 'hasOwnProperty', 'then', 'length', 'id', 'api', 'topic', 'partition', 'records'];
const key = fc.oneof(fc.string({ maxLength: 8 }), pick(DANGEROUS_KEYS));
const specialNumber = pick([NaN, Infinity, -Infinity, -0, -1, -2, -3, 0.5, -0.5, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 32 - 1, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 1e308, -1e308, Number.MIN_VALUE]);
const longString = fc.tuple(fc.integer({ min: 250, max: 20_000 }), fc.string({ minLength: 1, maxLength: 3, unit: 'binary' })).map(([n, s]) => s.repeat(Math.ceil(n / s.length)));
/** Values msgpack carries as extension types (HOSTILE_PACKR sends them; the broker's decoder accepts them). */
const exotic = fc.oneof(
  fc.bigInt({ min: -(2n ** 100n), max: 2n ** 100n }), fc.constant(2n ** 64n), fc.constant(new Set([1, 'a'])), fc.constant(new Error('boom')),
  fc.constant(/x+/g), fc.constant(new Float64Array([1.5, NaN])), fc.constant(new Uint16Array([1, 65535])),
);
const leaf = fc.oneof(
  specialNumber, fc.integer({ min: -50, max: 50 }), fc.double(), fc.boolean(), fc.constant(null), fc.string({ maxLength: 12, unit: 'binary' }),
  pick(HOSTILE), longString, fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)), fc.date({ noInvalidDate: true }), exotic,
);
/** Maps whose keys shadow Object.prototype (`{ toString: 1 }` cannot be turned into a string). */
const poison = fc.dictionary(pick(DANGEROUS_KEYS), leaf, { minKeys: 1, maxKeys: 3 });
/** Any shape at all: maps (with dangerous keys), arrays, leaves. */
const garbage: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof({ depthSize: 'small', withCrossShrink: true },
    { weight: 3, arbitrary: leaf },
    { weight: 1, arbitrary: poison },
    { weight: 1, arbitrary: fc.array(tie('v'), { maxLength: 4 }) },
    { weight: 1, arbitrary: fc.dictionary(key, tie('v'), { maxKeys: 4 }) }),
})).v;

const corruptFromValid = fc.tuple(fc.array(fc.string({ maxLength: 20 }), { minLength: 1, maxLength: 4 }), fc.nat(), fc.integer({ min: 1, max: 255 }), fc.nat(3))
  .map(([vals, at, xor, how]) => {
    const b = Buffer.from(batchOf(vals));
    if (how === 0) return b.subarray(0, at % b.length); // truncated
    if (how === 1) return Buffer.concat([b, Buffer.from([xor, xor])]); // trailing junk
    const c = Buffer.from(b);
    const i = 16 + (at % (c.length - 16)); // magic, CRC and everything the CRC covers
    c[i] ^= xor;
    return c;
  });
/**
 * Batches whose header lies about their records under a valid CRC (test/record/batch-lies.ts),
 * alone or after a good batch: the broker must refuse the whole set (INVALID_RECORD or
 * CORRUPT_MESSAGE), never store phantom offsets.
 */
const lyingRecords = fc.tuple(fc.array(fc.string({ maxLength: 20 }), { minLength: 1, maxLength: 4 }), pick(LIE_KINDS), fc.integer({ min: -1000, max: 1000 }), fc.nat(), fc.boolean())
  .map(([vals, kind, k, at, afterGood]) => {
    const bad = lie(batchOf(vals), kind, k, at);
    return afterGood ? Buffer.concat([batchOf(['good']), bad]) : bad;
  });
/** Record sets that must never be stored: the only thing ever produced to KNOWN. */
const corruptRecords = fc.oneof(corruptFromValid, fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)), lyingRecords);
const anyRecords = fc.oneof(
  corruptRecords,
  fc.array(fc.string({ maxLength: 30 }), { minLength: 1, maxLength: 5 }).map((v) => batchOf(v)),
  fc.tuple(fc.array(fc.string(), { minLength: 1, maxLength: 3 }), fc.array(fc.string(), { minLength: 1, maxLength: 3 })).map(([a, b]) => Buffer.concat([batchOf(a), batchOf(b)])),
);

const partition = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 3 }));
const offset = fc.oneof(fc.constant(0), fc.nat(10));
const readTopic = pick(READ_TOPICS);
const writeTopic = pick(WRITE_TOPICS);
const list = <T>(a: fc.Arbitrary<T>, maxLength = 3) => fc.array(a, { maxLength });
const tps = list(fc.record({ topic: readTopic, partitions: list(partition) }));
const topicConfig = fc.record({
  segmentBytes: pick([1024, 4096, 1 << 20]), retentionMs: pick([-1, 0, 60_000]), flushMessages: pick([-1, 1]), indexIntervalBytes: pick([1, 4096]),
}, { requiredKeys: [] });
const shareSettings = fc.record({
  visibilityTimeoutMs: pick([1, 1000, 30_000]), maxDeliveries: pick([1, 2, 5]), retryBackoffMs: pick([0, 10]),
  deadLetterTopic: fc.oneof(writeTopic, fc.constant(null)), startFrom: pick(['earliest', 'latest']), sessionTimeoutMs: pick([1000, 45_000]),
}, { requiredKeys: [] });

/**
 * A valid-looking body per api; mutations then break it. Hand-made where the values matter
 * (known and hostile topic and group names, records, small partition counts); every other
 * api of the table gets one generated from its request schema (schema-arbitrary.ts), so a
 * new api is fuzzed from the day it is added.
 */
const HAND_TEMPLATES: Record<number, fc.Arbitrary<Obj>> = {
  [Api.Produce]: fc.record({
    acks: fc.oneof({ weight: 6, arbitrary: pick([1, -1]) }, { weight: 1, arbitrary: fc.constant(0) }),
    partitions: list(fc.oneof(
      fc.record({ topic: writeTopic, partition, records: anyRecords }),
      fc.record({ topic: fc.constant(KNOWN), partition, records: corruptRecords }),
    )),
  }),
  [Api.Fetch]: fc.record({
    maxWaitMs: pick([0, 50]), minBytes: pick([0, 1, 1 << 20]), maxBytes: pick([0, 1, 1 << 20]),
    partitions: list(fc.record({ topic: readTopic, partition, offset, maxBytes: pick([0, 100, 1 << 20]) })),
  }),
  [Api.ListOffsets]: fc.record({ partitions: list(fc.record({ topic: readTopic, partition, timestamp: pick([-2, -1, 0, 1_700_000_000_000]) })) }),
  [Api.Metadata]: fc.record({ topics: list(readTopic) }, { requiredKeys: [] }),
  [Api.CreateTopics]: fc.record({ topics: list(fc.record({ name: writeTopic, partitions: fc.integer({ min: 1, max: 3 }), config: topicConfig }, { requiredKeys: ['name', 'partitions'] })) }),
  [Api.DeleteTopics]: fc.record({ topics: list(writeTopic) }),
  [Api.CreatePartitions]: fc.record({ topics: list(fc.record({ name: fc.oneof(writeTopic, fc.constant(KNOWN)), totalPartitions: fc.integer({ min: 1, max: 4 }) })) }),
  [Api.DescribeTopics]: fc.record({ topics: list(readTopic) }),
  [Api.OffsetCommit]: fc.record({
    groupId: pick(GROUPS), memberId: pick(['', 'm1']), memberEpoch: pick([-1, 0, 1]),
    partitions: list(fc.record({ topic: readTopic, partition, offset, metadata: fc.string({ maxLength: 10 }) }, { requiredKeys: ['topic', 'partition', 'offset'] })),
    commitSeq: pick([0, 1, Number.MAX_SAFE_INTEGER]),
  }, { requiredKeys: ['groupId', 'partitions'] }),
  [Api.OffsetFetch]: fc.record({ groupId: pick(GROUPS), partitions: list(fc.record({ topic: readTopic, partition })) }, { requiredKeys: ['groupId'] }),
  [Api.OffsetDelete]: fc.record({ groupId: pick(GROUPS), partitions: list(fc.record({ topic: readTopic, partition })) }),
  [Api.ListGroups]: fc.record({ states: list(pick(['Empty', 'Stable', 'Dead', 'nonsense'])) }, { requiredKeys: [] }),
  [Api.DescribeGroups]: fc.record({ groupIds: list(pick(GROUPS)), includeOffsets: fc.boolean() }, { requiredKeys: ['groupIds'] }),
  [Api.ConsumerGroupDescribe]: fc.record({ groupIds: list(pick(GROUPS)), includeOffsets: fc.boolean() }, { requiredKeys: ['groupIds'] }),
  [Api.DeleteGroups]: fc.record({ groupIds: list(pick(GROUPS)) }),
  [Api.ConsumerGroupHeartbeat]: fc.record({
    groupId: pick(GROUPS), memberId: pick(['', 'm1']), memberEpoch: pick([-1, 0, 1, 7]),
    subscribedTopics: list(readTopic), subscribedPattern: pick(['fuzz-.*', '(a+)+$', '[', '.*.*.*.*x', '']),
    ownedPartitions: tps, rebalanceTimeoutMs: pick([1, 1000]), sessionTimeoutMs: pick([1, 1000, 45_000]),
  }, { requiredKeys: ['groupId', 'memberId', 'memberEpoch'] }),
  [Api.ShareAcquire]: fc.record({
    groupId: pick(GROUPS), workerId: pick(WORKERS), topics: list(readTopic), maxRecords: pick([0, 1, 5]), maxWaitMs: pick([0, 50]), settings: shareSettings,
  }, { requiredKeys: ['groupId', 'workerId', 'topics', 'maxRecords', 'maxWaitMs'] }),
  [Api.ShareAck]: fc.record({
    groupId: pick(GROUPS), workerId: pick(WORKERS),
    entries: list(fc.record({
      topic: readTopic, partition, offsets: list(offset, 4), type: pick(['ack', 'release', 'reject', 'extend', 'nope']),
      delayMs: pick([0, 10]), extendMs: pick([1, 1000]), reason: fc.string({ maxLength: 10 }),
    }, { requiredKeys: ['topic', 'partition', 'offsets', 'type'] })),
  }),
  [Api.ShareDescribe]: fc.record({ groupIds: list(pick(GROUPS)) }, { requiredKeys: [] }),
  [Api.VerifyTopic]: fc.record({ topic: readTopic, partitions: list(partition) }, { requiredKeys: ['topic'] }),
  [Api.ShareLeave]: fc.record({ groupId: pick(GROUPS), workerId: pick(WORKERS) }),
  [Api.ShareDelete]: fc.record({ groupId: pick(GROUPS) }),
  [Api.ShareReset]: fc.record({
    groupId: pick(GROUPS), topic: readTopic, partitions: list(partition),
    to: fc.oneof(pick(['earliest', 'latest']), fc.record({ offset }), fc.record({ timestamp: pick([0, 1_700_000_000_000]) })), dryRun: fc.boolean(),
  }, { requiredKeys: ['groupId', 'topic', 'to'] }),
};
/**
 * A well-formed produce whose every record set lies about its records (the produce path's
 * own template, unmutated): each item must be refused with INVALID_RECORD or CORRUPT_MESSAGE.
 * KNOWN is among the targets, so a lie that got stored also shows in checkAfterFuzz.
 */
const liesTemplate = fc.record({
  acks: pick([1, -1]),
  partitions: fc.array(fc.record({ topic: pick([KNOWN, SCRATCH]), partition: fc.constant(0), records: lyingRecords }), { minLength: 1, maxLength: 3 }),
});
const APIS = API_DEFINITIONS.map((d) => d.key);
const TEMPLATES: Record<number, fc.Arbitrary<Obj>> = Object.fromEntries(API_DEFINITIONS.map((d) => [d.key,
  HAND_TEMPLATES[d.key] ?? (arbitraryOf(d.request, { str: pick([...READ_TOPICS, ...GROUPS]) }) as fc.Arbitrary<Obj>)]));
for (const a of Object.values(Api)) assert.ok(TEMPLATES[a], `no fuzz template for api ${a}: is it in the api table?`);

interface Mutation { at: number; op: 'delete' | 'replace' | 'wrap'; value: unknown }
const mutation: fc.Arbitrary<Mutation> = fc.record({ at: fc.nat(), op: pick(['delete', 'replace', 'replace', 'wrap'] as const), value: garbage });

export type Case =
  | { kind: 'mutated'; api: number; body: Obj; mutations: Mutation[]; badId?: { value: unknown } | undefined }
  | { kind: 'poison-field'; api: number; body: Obj; field: number; value: unknown }
  | { kind: 'random-body'; api: number; body: Obj }
  | { kind: 'lies'; api: number; body: Obj }
  | { kind: 'header'; header: Obj }
  | { kind: 'msgpack'; value: unknown }
  | { kind: 'bytes'; bytes: Uint8Array }
  | { kind: 'deep'; api: number; field: string; depth: number; maps: boolean };

const mutatedCase: fc.Arbitrary<Case> = pick(APIS).chain((api) => fc.record({
  kind: fc.constant('mutated' as const), api: fc.constant(api), body: TEMPLATES[api],
  mutations: fc.oneof({ weight: 1, arbitrary: fc.constant([] as Mutation[]) }, { weight: 4, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 3 }) }),
  badId: fc.oneof({ weight: 12, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.record({ value: fc.oneof(specialNumber, garbage) }) }),
}));
export const CASES: fc.Arbitrary<{ conn: number; c: Case }> = fc.record({
  conn: fc.nat(CONNECTIONS - 1),
  c: fc.oneof(
    { weight: 12, arbitrary: mutatedCase },
    { weight: 3, arbitrary: pick(APIS).chain((api) => fc.record({ kind: fc.constant('poison-field' as const), api: fc.constant(api), body: TEMPLATES[api], field: fc.nat(), value: fc.oneof(poison, exotic) })) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('lies' as const), api: fc.constant(Api.Produce), body: liesTemplate }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('random-body' as const), api: pick(APIS), body: fc.dictionary(key, garbage, { maxKeys: 6 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('header' as const), header: fc.record({ api: fc.oneof(specialNumber, garbage, fc.integer()), version: fc.oneof(specialNumber, garbage, fc.integer({ min: -2, max: 3 })) }, { requiredKeys: [] }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('msgpack' as const), value: fc.anything({ key, maxDepth: 3, withDate: true, withMap: true, withTypedArray: true, withNullPrototype: true }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('bytes' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 200 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('deep' as const), api: pick(APIS), field: pick(['partitions', 'topics', 'settings', 'entries', 'groupIds']),
      depth: fc.oneof(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 100, max: 5000 }), fc.integer({ min: 5000, max: 200_000 })), maps: fc.boolean() }) },
  ),
});

// --- building frames ---------------------------------------------------------------------------

function isPlain(v: unknown): v is Obj {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Deep copy of a generated value (fast-check may hand the same object to later runs); Buffers are shared. */
function clone(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(clone);
  if (isPlain(v)) {
    const out: Obj = {};
    for (const [k, x] of Object.entries(v)) Object.defineProperty(out, k, { value: clone(x), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return v;
}

/** Every [container, key] in a value, in a stable order, so a mutation's `at` picks one. */
function fieldSlots(v: unknown, out: [Obj | unknown[], string | number][] = []): [Obj | unknown[], string | number][] {
  if (Array.isArray(v)) v.forEach((x, i) => { out.push([v, i]); fieldSlots(x, out); });
  else if (isPlain(v)) {
    for (const k of Object.keys(v)) { out.push([v as Obj, k]); fieldSlots((v as Obj)[k], out); }
  }
  return out;
}

function mutate(body: Obj, m: Mutation): void {
  const all = fieldSlots(body);
  if (all.length === 0) {
    if (m.op !== 'delete') body.partitions = clone(m.value);
    return;
  }
  const [holder, k] = all[m.at % all.length];
  if (m.op === 'delete') {
    if (Array.isArray(holder)) holder.splice(k as number, 1);
    else delete holder[k as string];
  } else if (m.op === 'replace') {
    (holder as Obj)[k as string] = clone(m.value);
  } else {
    (holder as Obj)[k as string] = [(holder as Obj)[k as string], clone(m.value)];
  }
}

/** `{ id, api, version }` plus `field` holding `depth` nested arrays (or maps), written by hand: no recursion here. */
function deepFrame(id: number, api: number, field: string, depth: number, maps: boolean): Buffer {
  // The keys and values as a 7-element array, whose 1-byte fixarray header (0x97) becomes a
  // 4-entry fixmap header (0x84) once the deep value is appended.
  const head = encodeFrame(['id', id, 'api', api, 'version', 0, field]);
  assert.equal(head[0], 0x97);
  const unit = maps ? Buffer.from([0x81, 0xa1, 0x6b]) : Buffer.from([0x91]); // { k: ... } or [ ... ]
  const body = Buffer.alloc(unit.length * depth + 1, 0);
  for (let i = 0; i < depth; i++) unit.copy(body, i * unit.length);
  body[body.length - 1] = 0xc0; // nil at the bottom
  return Buffer.concat([Buffer.from([0x84]), head.subarray(1), body]);
}

/**
 * Encodes what a hostile client could send: the broker's own options plus the extension
 * types msgpackr decodes anyway (BigInt 0x42, Set, Error, RegExp, typed arrays).
 */
const HOSTILE_PACKR = new Packr({ useRecords: false, int64AsType: 'number', mapsAsObjects: true, moreTypes: true, useBigIntExtension: true });

let nextId = 1;

interface Frame { bytes: Buffer; shown: unknown; expect: Expect }
type Expect = { respond: number; silentOk: boolean; closeOk: boolean } | { close: number };

/** What the protocol promises for these bytes (docs/protocol.md, "Refused frames"). */
function expectFor(bytes: Buffer): Expect {
  let msg: Obj;
  try {
    // The broker's structure caps (default maxRequestMsgpackBytes): past one, 1009; an
    // extension value, 1007 (src/protocol/frame-limits.ts).
    msg = decodeFrame(bytes, { maxMsgpackBytes: 1 << 20, maxValues: MAX_REQUEST_VALUES, maxDepth: MAX_REQUEST_DEPTH });
  } catch (err) {
    return { close: err instanceof FrameError ? err.closeCode : 1007 };
  }
  const id = readRequestId(msg);
  if (id === undefined) return { close: 1008 };
  return { respond: id, silentOk: msg.api === Api.Produce && msg.acks === 0, closeOk: false };
}

function build(c: Case): Frame | undefined {
  const id = nextId++;
  let value: unknown;
  switch (c.kind) {
    case 'mutated': {
      const body = clone(c.body) as Obj;
      for (const m of c.mutations) mutate(body, m);
      value = { ...body, id, api: c.api, version: 0 };
      if (c.badId) (value as Obj).id = clone(c.badId.value);
      break;
    }
    case 'poison-field': {
      // One top-level field (or the header's version/acks) replaced: the fields a handler
      // is most likely to print or compare before checking its type.
      const body = clone(c.body) as Obj;
      const keys = [...Object.keys(body), 'version', 'acks'];
      value = { ...body, id, api: c.api, version: 0 };
      (value as Obj)[keys[c.field % keys.length]] = clone(c.value);
      break;
    }
    case 'random-body':
    case 'lies': value = { ...(clone(c.body) as Obj), id, api: c.api, version: 0 }; break;
    case 'header': value = { id, ...(clone(c.header) as Obj) }; break;
    case 'msgpack': value = c.value; break;
    case 'bytes': {
      const bytes = Buffer.from(c.bytes);
      return { bytes, shown: bytes.toString('hex'), expect: expectFor(bytes) };
    }
    case 'deep': {
      const bytes = deepFrame(id, c.api, c.field, c.depth, c.maps);
      // Past MAX_REQUEST_DEPTH the broker refuses the frame (1009) before decoding; below it,
      // either a refusal (1007) or an answer is correct, but not silence or a crash.
      return { bytes, shown: `${c.field}: ${c.depth} nested ${c.maps ? 'maps' : 'arrays'} in api ${c.api}`, expect: { respond: id, silentOk: false, closeOk: true } };
    }
  }
  let bytes: Buffer;
  try {
    bytes = Buffer.from(HOSTILE_PACKR.pack(value));
  } catch {
    return undefined; // a value msgpackr cannot encode: nothing to send
  }
  return { bytes, shown: value, expect: expectFor(bytes) };
}

// --- checking answers ----------------------------------------------------------------------------

function problemWithError(e: unknown, at: string): string | undefined {
  if (e === null || typeof e !== 'object') return `${at} is not a map`;
  const { code, message } = e as { code?: unknown; message?: unknown };
  if (typeof code !== 'number' || !CODES.has(code) || code === 0) return `${at}.code ${String(code)} is not a wire error code`;
  if (code === ERRORS.UNKNOWN_SERVER_ERROR.code) return `${at} is UNKNOWN_SERVER_ERROR (a broker bug; see its log): ${String(message)}`;
  if (typeof message !== 'string') return `${at}.message is not a string`;
  return undefined;
}

/** Every `error` anywhere in a response must be a wire error. */
function problemInErrors(v: unknown, at: string): string | undefined {
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) { const p = problemInErrors(v[i], `${at}[${i}]`); if (p) return p; }
  } else if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array)) {
    for (const [k, x] of Object.entries(v)) {
      const p = k === 'error' ? problemWithError(x, `${at}.error`) : problemInErrors(x, `${at}.${k}`);
      if (p) return p;
    }
  }
  return undefined;
}

function problemWithResponse(sent: Obj | undefined, res: Obj): string | undefined {
  if ('error' in res) return problemWithError(res.error, 'error');
  const api = sent?.api as number;
  const field = LIST_FIELD[api];
  if (field !== undefined && !Array.isArray(res[field])) return `success without a ${field} list`;
  if (api === Api.ConsumerGroupHeartbeat && (typeof res.memberId !== 'string' || typeof res.memberEpoch !== 'number')) return 'heartbeat success without memberId/memberEpoch';
  if (api === Api.Metadata && typeof res.brokerVersion !== 'string') return 'metadata without brokerVersion';
  return problemInErrors(res, 'response');
}

// --- connections -------------------------------------------------------------------------------------

type Outcome = { response: Obj } | { closed: number; reason: string } | { silent: true } | { timeout: true };

export class Slot {
  private client: RawClient | undefined;
  private closed: { code: number; reason: string } | undefined;
  /** Frames that matched no exchange: must be pushes (id 0) or late answers to acks-0 produces. */
  readonly strays: Obj[] = [];
  private waiter: ((msg: Obj) => void) | undefined;

  constructor(private readonly url: string) {}

  async get(): Promise<RawClient> {
    if (this.client && !this.closed) return this.client;
    const c = await RawClient.connect(this.url);
    this.client = c;
    this.closed = undefined;
    c.ws.on('message', (data: Buffer) => {
      const msg = decodeFrame(data);
      if (this.waiter) this.waiter(msg);
      else this.strays.push(msg);
    });
    void c.closed.then((cl) => { if (this.client === c) this.closed = cl; });
    return c;
  }

  /** Sends `bytes` and waits for the answer with `id`, the connection closing, or the timeout. */
  async exchange(bytes: Buffer, id: number | undefined, ping: boolean): Promise<Outcome> {
    const c = await this.get();
    return new Promise<Outcome>((resolveP) => {
      // An acks-0 produce may stay silent: the answer to a later request on the same
      // connection shows the broker still reads it and ends the wait.
      const pingId = ping ? nextId++ : -1;
      let done = false;
      const finish = (o: Outcome) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.waiter = undefined;
        resolveP(o);
      };
      const timer = setTimeout(() => finish({ timeout: true }), TIMEOUT_MS);
      this.waiter = (msg) => {
        if (msg.id === id && !('push' in msg)) finish({ response: msg });
        else if (msg.id === pingId) finish({ silent: true });
        else this.strays.push(msg);
      };
      void c.closed.then((cl) => finish({ closed: cl.code, reason: cl.reason }));
      c.sendRaw(bytes);
      if (ping) c.sendRaw(encodeFrame({ id: pingId, api: Api.Metadata, version: 0, topics: [KNOWN] }));
    });
  }

  close(): void {
    this.client?.close();
  }
}
// --- a session ------------------------------------------------------------------------------------------

/** The broker flags a fuzz session runs with: small limits, so the limit paths are reached. */
export const FUZZ_BROKER_ARGS = ['--max-fetch-wait-ms', '200', '--max-frame-bytes', String(1 << 20), '--max-batch-bytes', '4096', '--auto-create-topics', 'true'];

export interface FuzzSession {
  broker: BrokerHandle;
  slots: Slot[];
  /** Files (not directories) in the data dir before the fuzz. */
  baselineFiles: string[];
}

/** What a run sent and got: frames, frames per api (or frame kind), and outcomes. */
export interface Tally {
  frames: number;
  apis: Record<string, number>;
  outcomes: Record<string, number>;
}

export const newTally = (): Tally => ({ frames: 0, apis: {}, outcomes: {} });

/** Creates KNOWN (with its records) and SCRATCH on a freshly started broker, and the connection pool. */
export async function setUpFuzzBroker(broker: BrokerHandle): Promise<FuzzSession> {
  const c = await RawClient.connect(broker.url);
  try {
    assert.equal((await createTopic(c, KNOWN)).error, undefined);
    assert.equal((await createTopic(c, SCRATCH, 2)).error, undefined);
    const res = await produce(c, KNOWN, 0, batchOf(KNOWN_VALUES), -1);
    assert.equal(res.partitions[0].error, undefined);
  } finally {
    c.close();
  }
  const baselineFiles = readdirSync(broker.dataDir).filter((f) => !statSync(join(broker.dataDir, f)).isDirectory());
  return { broker, slots: Array.from({ length: CONNECTIONS }, () => new Slot(broker.url)), baselineFiles };
}

export function closeFuzzSession(s: FuzzSession): void {
  for (const slot of s.slots) slot.close();
}

/** The api a case targets, or its kind when it has none (random bytes, msgpack, headers). */
export function caseLabel(c: Case): string {
  return 'api' in c ? apiName(c.api) ?? `api ${c.api}` : c.kind;
}

function brokerExited(broker: BrokerHandle): boolean {
  return broker.proc.exitCode !== null || broker.proc.signalCode !== null;
}

function exitedWithin(broker: BrokerHandle, ms: number): Promise<void> {
  if (brokerExited(broker)) return Promise.resolve();
  return new Promise((r) => {
    const t = setTimeout(r, ms);
    broker.proc.once('exit', () => { clearTimeout(t); r(); });
  });
}

/**
 * Sends one generated frame on its connection and checks the outcome against what the
 * protocol promises; throws (AssertionError) naming the frame when it does not hold.
 */
export async function runCase(s: FuzzSession, { conn, c }: { conn: number; c: Case }, tally: Tally): Promise<void> {
  const { broker } = s;
  const frame = build(c);
  if (!frame) return;
  tally.frames++;
  const label = caseLabel(c);
  tally.apis[label] = (tally.apis[label] ?? 0) + 1;
  const count = (k: string) => { tally.outcomes[k] = (tally.outcomes[k] ?? 0) + 1; };
  const sent = (() => { try { return decodeFrame(frame.bytes); } catch { return undefined; } })();
  const { expect } = frame;
  const ping = 'respond' in expect && expect.silentOk;
  const outcome = await s.slots[conn].exchange(frame.bytes, 'respond' in expect ? expect.respond : undefined, ping);
  const where = `${c.kind} frame ${describe(frame.shown)}`;
  // A crash shows first as an abnormal close (1006); give the exit event a moment to land.
  if ('closed' in outcome && outcome.closed === 1006) await exitedWithin(broker, 500);
  if (brokerExited(broker)) {
    assert.fail(`broker exited (${broker.proc.exitCode ?? broker.proc.signalCode}) after ${where}\n${broker.logs().slice(-3000)}`);
  }
  assert.ok(!('timeout' in outcome), `no answer and no close within ${TIMEOUT_MS} ms for ${where}`);
  if ('close' in expect) {
    assert.ok('closed' in outcome, `expected close ${expect.close}, got ${describe(outcome)} for ${where}`);
    assert.equal(outcome.closed, expect.close, `close code (reason: ${outcome.reason}) for ${where}`);
    assert.ok(outcome.reason.length > 0, `close ${outcome.closed} without a reason for ${where}`);
    count(`closed ${outcome.closed}`);
    return;
  }
  if ('closed' in outcome) {
    assert.ok(expect.closeOk && (outcome.closed === 1007 || outcome.closed === 1009), `connection closed (${outcome.closed} ${outcome.reason}) instead of answering ${where}`);
    count(`closed ${outcome.closed} (deep)`);
    return;
  }
  if ('silent' in outcome) {
    assert.ok(expect.silentOk, `no answer for ${where}`);
    count('acks-0 silent');
    return;
  }
  const res = outcome.response;
  const problem = problemWithResponse(sent, res);
  assert.equal(problem, undefined, `${problem} in ${describe(res)} for ${where}`);
  const err = (res.error as { code: number } | undefined)?.code;
  count(err === undefined ? 'answered ok' : `error ${NAMES.get(err)}`);
  for (const item of Object.values(res).filter(Array.isArray).flat() as { error?: { code: number } }[]) {
    if (item?.error) count(`item ${NAMES.get(item.error.code)}`);
  }
  if (c.kind === 'lies' && err === undefined) {
    for (const item of res.partitions as { error?: { code: number } }[]) {
      assert.ok(item.error && REFUSED_LIE.has(item.error.code), `a lying batch was not refused (${describe(item)}) for ${where}`);
    }
  }
}

const REFUSED_LIE = new Set<number>([ERRORS.INVALID_RECORD.code, ERRORS.CORRUPT_MESSAGE.code]);

/** Frames that arrived outside any exchange must be pushes or well-formed late answers. */
export function checkStrays(s: FuzzSession): void {
  for (const slot of s.slots) {
    for (const msg of slot.strays) {
      if (msg.id === 0 && 'push' in msg) continue;
      assert.equal(problemWithResponse(undefined, msg), undefined, `stray frame ${describe(msg)}`);
    }
  }
}

/**
 * After a fuzz: the process is alive, logged no error, /healthz answers (within
 * `healthTimeoutMs`), a fresh connection reads back exactly KNOWN's records, and nothing
 * named after a hostile topic or group reached the disk.
 */
export async function checkAfterFuzz(s: FuzzSession, healthTimeoutMs = 30_000): Promise<void> {
  const { broker } = s;
  assert.equal(broker.proc.exitCode, null, broker.logs().slice(-3000));
  // Refused input is logged at debug at most; an error line means an unexpected failure.
  const bad = broker.logs().split('\n').filter((l) => /"level":"(error|fatal)"/.test(l));
  assert.deepEqual(bad, [], 'the broker logged errors during the fuzz');
  const health = await fetch(`${broker.httpUrl}/healthz`, { signal: AbortSignal.timeout(healthTimeoutMs) });
  assert.equal(health.status, 200);
  const c = await RawClient.connect(broker.url);
  try {
    assert.deepEqual(await readAll(c, KNOWN, 0), KNOWN_VALUES.map((v, i) => [i, v]));
    const meta = await c.request({ api: Api.Metadata });
    const topics = new Set((meta.topics as { name: string }[]).map((t) => t.name));
    assert.ok(topics.has(KNOWN));

    // Only partition directories of legal, existing (or internal) topics, plus the files
    // that were there before the fuzz.
    for (const f of readdirSync(broker.dataDir)) {
      const full = join(broker.dataDir, f);
      if (!statSync(full).isDirectory()) {
        // producer-ids: the broker's producer id counter, written by the fuzz's InitProducerId requests.
        assert.ok(s.baselineFiles.includes(f) || f === PRODUCER_IDS_FILE, `unexpected file ${f} in the data dir`);
        continue;
      }
      const m = /^(.+)-(\d+)$/.exec(f);
      assert.ok(m && isValidTopicName(m[1]), `data dir entry ${JSON.stringify(f)} is not <topic>-<partition>`);
      assert.ok(topics.has(m[1]) || m[1].startsWith('__'), `directory ${f} belongs to no topic`);
      assert.ok(!f.includes(MARK), `hostile name reached the disk: ${f}`);
    }
  } finally {
    c.close();
  }
  // Nothing named after a hostile topic or group anywhere a path escape could land.
  for (const dir of new Set([dirname(broker.dataDir), dirname(dirname(broker.dataDir)), ROOT, '/tmp'])) {
    if (!existsSync(dir)) continue;
    const found = readdirSync(dir).filter((f) => f.includes(MARK));
    assert.deepEqual(found, [], `escaped into ${dir}`);
  }
}

/** Frames that once broke the broker, run first whatever the seed. */
export const REGRESSIONS: [{ conn: number; c: Case }][] = [
  // String({ toString: null }) threw inside parseRequest and the process exited.
  [{ conn: 0, c: { kind: 'poison-field', api: Api.Produce, body: { acks: 1, partitions: [] }, field: 0, value: { toString: null } } }],
];

export function describe(shown: unknown): string {
  const s = JSON.stringify(shown, (_k, v: unknown) => {
    if (typeof v === 'bigint') return `${v}n`;
    if (v instanceof Uint8Array) return `<${v.length} bytes>`;
    if ((v as { type?: string } | null)?.type === 'Buffer') return `<${(v as { data: unknown[] }).data.length} bytes>`;
    if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
    if (typeof v === 'string' && v.length > 80) return `${v.slice(0, 40)}...(${v.length} chars)`;
    return v;
  });
  return s === undefined ? String(shown) : s.length > 2000 ? `${s.slice(0, 2000)}...` : s;
}
