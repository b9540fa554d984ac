/**
 * Shape checks of the share apis' requests (ShareAcquire 1100 .. ShareReset 1105), the
 * same rules as src/protocol/parse-request.ts applies to the other apis: a missing or
 * ill-typed field is INVALID_REQUEST naming it. They run in the handlers, so the shared
 * parser needs no queue knowledge. Settings values are checked by the coordinator
 * (INVALID_CONFIG naming the setting).
 */
import type {
  ShareAckRequest, ShareAcquireRequest, ShareDescribeRequest, ShareLeaveRequest, ShareDeleteRequest, ShareResetRequest,
} from '../protocol/api.js';
import { InvalidShareRequestError } from '../queue/errors.js';

const I32_MAX = 0x7fff_ffff;
const ACK_TYPES = new Set(['ack', 'release', 'reject', 'extend']);
const RELEASE_KINDS = new Set(['failed', 'unstarted']);
/** One request may name this many offsets in all; bounds the work of one ShareAck. */
export const MAX_ACK_OFFSETS = 100_000;

type Obj = Record<string, unknown>;

function str(o: Obj, key: string, path = key): string {
  const v = o[key];
  if (typeof v !== 'string' || v === '' || v.length > 255) throw new InvalidShareRequestError(`${path} must be a non-empty string (at most 255 characters)`);
  return v;
}

function int(o: Obj, key: string, min: number, max: number, path = key): void {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new InvalidShareRequestError(`${path} must be an integer in ${min}..${max}`);
}

function optInt(o: Obj, key: string, min: number, max: number, path: string): void {
  if (o[key] == null) delete o[key];
  else int(o, key, min, max, path);
}

function list(o: Obj, key: string): unknown[] {
  const v = o[key];
  if (!Array.isArray(v)) throw new InvalidShareRequestError(`${key} must be a list`);
  return v;
}

function isMap(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function checkShareAcquire(req: ShareAcquireRequest): void {
  const o = req as unknown as Obj;
  str(o, 'groupId');
  str(o, 'workerId');
  const topics = list(o, 'topics');
  if (topics.length === 0) throw new InvalidShareRequestError('topics must name at least one topic');
  topics.forEach((t, i) => {
    if (typeof t !== 'string' || t === '') throw new InvalidShareRequestError(`topics[${i}] must be a non-empty string`);
  });
  int(o, 'maxRecords', 0, 1_000_000);
  int(o, 'maxWaitMs', 0, I32_MAX);
  if (o.settings == null) delete o.settings;
  else if (!isMap(o.settings)) throw new InvalidShareRequestError('settings must be a map');
}

export function checkShareAck(req: ShareAckRequest): void {
  const o = req as unknown as Obj;
  str(o, 'groupId');
  str(o, 'workerId');
  let total = 0;
  list(o, 'entries').forEach((e, i) => {
    const at = `entries[${i}]`;
    if (!isMap(e)) throw new InvalidShareRequestError(`${at} must be a map`);
    if (typeof e.topic !== 'string') throw new InvalidShareRequestError(`${at}.topic must be a string`);
    int(e, 'partition', 0, I32_MAX, `${at}.partition`);
    if (typeof e.type !== 'string' || !ACK_TYPES.has(e.type)) throw new InvalidShareRequestError(`${at}.type must be one of ack, release, reject, extend`);
    const offsets = e.offsets;
    if (!Array.isArray(offsets)) throw new InvalidShareRequestError(`${at}.offsets must be a list`);
    for (const off of offsets) {
      if (typeof off !== 'number' || !Number.isInteger(off) || off < 0) throw new InvalidShareRequestError(`${at}.offsets must hold non-negative integers`);
    }
    total += offsets.length;
    optInt(e, 'delayMs', 0, I32_MAX, `${at}.delayMs`);
    optInt(e, 'extendMs', 1, I32_MAX, `${at}.extendMs`);
    if (e.reason == null) delete e.reason;
    else if (typeof e.reason !== 'string') throw new InvalidShareRequestError(`${at}.reason must be a string`);
    if (e.kind == null) delete e.kind;
    else if (e.type !== 'release' || !RELEASE_KINDS.has(e.kind as string)) throw new InvalidShareRequestError(`${at}.kind must be failed or unstarted, and only on a release`);
  });
  if (total > MAX_ACK_OFFSETS) throw new InvalidShareRequestError(`one ShareAck may name at most ${MAX_ACK_OFFSETS} offsets, got ${total}`);
}

export function checkShareDescribe(req: ShareDescribeRequest): void {
  const o = req as unknown as Obj;
  if (o.groupIds == null) {
    delete o.groupIds;
    return;
  }
  list(o, 'groupIds').forEach((g, i) => {
    if (typeof g !== 'string') throw new InvalidShareRequestError(`groupIds[${i}] must be a string`);
  });
}

export function checkShareLeave(req: ShareLeaveRequest): void {
  const o = req as unknown as Obj;
  str(o, 'groupId');
  str(o, 'workerId');
}

export function checkShareDelete(req: ShareDeleteRequest): void {
  str(req as unknown as Obj, 'groupId');
}

export function checkShareReset(req: ShareResetRequest): void {
  const o = req as unknown as Obj;
  str(o, 'groupId');
  str(o, 'topic');
  if (o.partitions == null) delete o.partitions;
  else {
    // Bounded by the topic's partition count in the handler; distinct so `from` means one thing.
    const ps = list(o, 'partitions');
    if (ps.length === 0) throw new InvalidShareRequestError('partitions must name at least one partition (omit it for all)');
    ps.forEach((_, i) => int(ps as unknown as Obj, String(i), 0, I32_MAX, `partitions[${i}]`));
    if (new Set(ps).size !== ps.length) throw new InvalidShareRequestError('partitions must not repeat a partition');
  }
  const to = o.to;
  if (to !== 'earliest' && to !== 'latest') {
    if (!isMap(to) || Object.keys(to).length !== 1 || !('offset' in to || 'timestamp' in to)) {
      throw new InvalidShareRequestError("to must be 'earliest', 'latest', {offset} or {timestamp}");
    }
    if ('offset' in to) int(to, 'offset', 0, Number.MAX_SAFE_INTEGER, 'to.offset');
    else int(to, 'timestamp', 0, Number.MAX_SAFE_INTEGER, 'to.timestamp');
  }
  if (o.dryRun == null) delete o.dryRun;
  else if (typeof o.dryRun !== 'boolean') throw new InvalidShareRequestError('dryRun must be a boolean');
}
