/**
 * Checks that a decoded frame is a well-formed request of a known api and version, and
 * returns it typed. Pure. Checks shape only (types, integer-ness, ranges); whether a topic
 * exists or a name is legal is the handler's business and fails per topic or partition.
 *
 *   no readable id (missing, not a u32)      -> FrameError 1008 (connection closed)
 *   api not in Api                           -> RequestError UNKNOWN_API
 *   version not supported for the api        -> RequestError UNSUPPORTED_VERSION
 *   acks not 0, 1 or -1                      -> RequestError INVALID_REQUIRED_ACKS
 *   any other field missing or ill-typed     -> RequestError INVALID_REQUEST naming the field
 *
 * The request object is validated in place and returned (no copy: produce requests are on
 * the hot path); extra fields are ignored. `null` counts as absent for optional fields.
 */
import { Api, type ProduceRequest, type FetchRequest, type ListOffsetsRequest, type MetadataRequest,
  type CreateTopicsRequest, type DeleteTopicsRequest, type CreatePartitionsRequest,
  type DescribeTopicsRequest, type VerifyTopicRequest, EARLIEST } from './api.js';
import { FrameError, CLOSE_POLICY_VIOLATION } from './frame-error.js';
import { RequestError } from './request-error.js';
import { checkGroupRequest } from './parse-group-request.js';

export type Request = ProduceRequest | FetchRequest | ListOffsetsRequest | MetadataRequest | CreateTopicsRequest
  | DeleteTopicsRequest | CreatePartitionsRequest | DescribeTopicsRequest | VerifyTopicRequest;

/** Highest version of each api this broker speaks; every api starts at 0. */
export const MAX_VERSION: Readonly<Record<number, number>> = Object.freeze(
  Object.fromEntries(Object.values(Api).map((a) => [a, 0])),
);

const U32_MAX = 0xffff_ffff;
const I32_MAX = 0x7fff_ffff;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

type Obj = Record<string, unknown>;

/** The request id when readable, else undefined. */
export function readRequestId(msg: Obj): number | undefined {
  const id = msg.id;
  return typeof id === 'number' && Number.isInteger(id) && id >= 0 && id <= U32_MAX ? id : undefined;
}

export function parseRequest(msg: Obj): Request {
  const id = readRequestId(msg);
  if (id === undefined) throw new FrameError(CLOSE_POLICY_VIOLATION, 'request has no readable id (u32)');
  const api = msg.api;
  if (typeof api !== 'number' || !Number.isInteger(api)) fail(id, 'api must be an integer');
  const max = MAX_VERSION[api];
  if (max === undefined) throw new RequestError('UNKNOWN_API', id, `unknown api ${api}`);
  const version = msg.version;
  if (typeof version !== 'number' || !Number.isInteger(version)) fail(id, 'version must be an integer');
  if (version < 0 || version > max) throw new RequestError('UNSUPPORTED_VERSION', id, `api ${api} version ${version} is not supported (0..${max})`);
  const c = new Check(id);
  switch (api) {
    case Api.Produce: {
      const acks = msg.acks;
      // Only a number is printed: String() of a map such as { toString: 1 } throws, and a
      // throw here is not a RequestError, so it would escape the connection's handler.
      if (acks !== 0 && acks !== 1 && acks !== -1) throw new RequestError('INVALID_REQUIRED_ACKS', id, `acks must be 0, 1 or -1, got ${typeof acks === 'number' ? acks : typeof acks}`);
      c.each(msg, 'partitions', (p) => {
        c.str(p, 'topic');
        c.int(p, 'partition', 0, I32_MAX);
        c.bytes(p, 'records');
      });
      break;
    }
    case Api.Fetch:
      c.int(msg, 'maxWaitMs', 0, I32_MAX);
      c.int(msg, 'minBytes', 0, I32_MAX);
      c.int(msg, 'maxBytes', 0, I32_MAX);
      c.each(msg, 'partitions', (p) => {
        c.str(p, 'topic');
        c.int(p, 'partition', 0, I32_MAX);
        c.int(p, 'offset', 0, MAX_SAFE);
        c.int(p, 'maxBytes', 0, I32_MAX);
      });
      break;
    case Api.ListOffsets:
      c.each(msg, 'partitions', (p) => {
        c.str(p, 'topic');
        c.int(p, 'partition', 0, I32_MAX);
        c.int(p, 'timestamp', EARLIEST, MAX_SAFE);
      });
      break;
    case Api.Metadata:
      if (msg.topics == null) delete msg.topics;
      else c.strings(msg, 'topics');
      break;
    case Api.CreateTopics:
      c.each(msg, 'topics', (t) => {
        c.str(t, 'name');
        c.int(t, 'partitions', -I32_MAX, I32_MAX); // 0 and negatives fail per topic (INVALID_PARTITIONS)
        if (t.config == null) delete t.config;
        else c.obj(t.config, 'config');
      });
      break;
    case Api.DeleteTopics:
    case Api.DescribeTopics:
      c.strings(msg, 'topics');
      break;
    case Api.CreatePartitions:
      c.each(msg, 'topics', (t) => {
        c.str(t, 'name');
        c.int(t, 'totalPartitions', -I32_MAX, I32_MAX);
      });
      break;
    case Api.VerifyTopic:
      c.str(msg, 'topic');
      if (msg.partitions == null) delete msg.partitions;
      else c.ints(msg, 'partitions', 0, I32_MAX);
      break;
    default:
      checkGroupRequest(id, api, msg);
  }
  return msg as unknown as Request;
}

function isMap(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype;
}

function fail(id: number, message: string): never {
  throw new RequestError('INVALID_REQUEST', id, message);
}

/**
 * Field checks that name the offending path (`partitions[2].offset`) in the error. The
 * path is only built on failure, so a valid request costs no string work.
 */
class Check {
  private list = '';
  private index = -1;

  constructor(private readonly id: number) {}

  private at(key: string): string {
    return this.index < 0 ? key : `${this.list}[${this.index}].${key}`;
  }

  obj(v: unknown, key: string): Obj {
    if (!isMap(v)) fail(this.id, `${this.at(key)} must be a map`);
    return v;
  }

  int(o: Obj, key: string, min: number, max: number): void {
    const v = o[key];
    if (typeof v !== 'number' || !Number.isInteger(v)) fail(this.id, `${this.at(key)} must be an integer`);
    if (v < min || v > max) fail(this.id, `${this.at(key)} must be in ${min}..${max}, got ${v}`);
  }

  str(o: Obj, key: string): void {
    if (typeof o[key] !== 'string') fail(this.id, `${this.at(key)} must be a string`);
  }

  bytes(o: Obj, key: string): void {
    const v = o[key];
    if (Buffer.isBuffer(v)) return;
    if (!(v instanceof Uint8Array)) fail(this.id, `${this.at(key)} must be binary (msgpack bin)`);
    o[key] = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  }

  strings(o: Obj, key: string): void {
    const v = o[key];
    if (!Array.isArray(v)) fail(this.id, `${key} must be an array of strings`);
    for (let i = 0; i < v.length; i++) if (typeof v[i] !== 'string') fail(this.id, `${key}[${i}] must be a string`);
  }

  ints(o: Obj, key: string, min: number, max: number): void {
    const v = o[key];
    if (!Array.isArray(v)) fail(this.id, `${key} must be an array of integers`);
    for (let i = 0; i < v.length; i++) {
      const n: unknown = v[i];
      if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) fail(this.id, `${key}[${i}] must be an integer in ${min}..${max}`);
    }
  }

  each(o: Obj, key: string, fn: (item: Obj) => void): void {
    const v = o[key];
    if (!Array.isArray(v)) fail(this.id, `${key} must be an array`);
    this.list = key;
    for (let i = 0; i < v.length; i++) {
      const item = v[i];
      if (!isMap(item)) fail(this.id, `${key}[${i}] must be a map`);
      this.index = i;
      fn(item);
    }
    this.index = -1;
  }
}
