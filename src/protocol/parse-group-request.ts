/**
 * Shape checks for the consumer-group apis (8, 9, 15, 16, 42, 47, 68, 69), called by
 * parseRequest. Like the rest of the parse layer: types and ranges only, errors are
 * INVALID_REQUEST naming the field (`partitions[3].offset`). Whether a member or group
 * exists is the coordinator's business.
 */
import { Api } from './api.js';
import { RequestError } from './request-error.js';

type Obj = Record<string, unknown>;

const I32_MAX = 0x7fff_ffff;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

export const GROUP_APIS: ReadonlySet<number> = new Set([
  Api.OffsetCommit, Api.OffsetFetch, Api.DescribeGroups, Api.ListGroups, Api.DeleteGroups, Api.OffsetDelete,
  Api.ConsumerGroupHeartbeat, Api.ConsumerGroupDescribe,
]);

export function checkGroupRequest(id: number, api: number, msg: Obj): void {
  const fail = (m: string): never => { throw new RequestError('INVALID_REQUEST', id, m); };
  const isMap = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array);
  const str = (o: Obj, k: string, at = k) => { if (typeof o[k] !== 'string') fail(`${at} must be a string`); };
  const int = (o: Obj, k: string, min: number, max: number, at = k) => {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isInteger(v)) fail(`${at} must be an integer`);
    if ((v as number) < min || (v as number) > max) fail(`${at} must be in ${min}..${max}, got ${String(v)}`);
  };
  /** Optional fields: null counts as absent and is removed, so handlers see undefined. */
  const opt = (o: Obj, k: string): boolean => {
    if (o[k] == null) { delete o[k]; return false; }
    return true;
  };
  const strings = (o: Obj, k: string) => {
    const v = o[k];
    if (!Array.isArray(v)) fail(`${k} must be an array of strings`);
    (v as unknown[]).forEach((x, i) => { if (typeof x !== 'string') fail(`${k}[${i}] must be a string`); });
  };
  const each = (o: Obj, k: string, fn: (item: Obj, at: string) => void) => {
    const v = o[k];
    if (!Array.isArray(v)) fail(`${k} must be an array`);
    (v as unknown[]).forEach((item, i) => {
      if (!isMap(item)) fail(`${k}[${i}] must be a map`);
      fn(item as Obj, `${k}[${i}]`);
    });
  };
  const partitionRef = (p: Obj, at: string) => {
    str(p, 'topic', `${at}.topic`);
    int(p, 'partition', 0, I32_MAX, `${at}.partition`);
  };
  const topicPartitions = (p: Obj, at: string) => {
    str(p, 'topic', `${at}.topic`);
    const ps = p.partitions;
    if (!Array.isArray(ps)) fail(`${at}.partitions must be an array`);
    (ps as unknown[]).forEach((x, i) => {
      if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > I32_MAX) fail(`${at}.partitions[${i}] must be a partition number`);
    });
  };

  switch (api) {
    case Api.ConsumerGroupHeartbeat:
      str(msg, 'groupId');
      str(msg, 'memberId');
      int(msg, 'memberEpoch', -1, I32_MAX);
      if (opt(msg, 'rebalanceTimeoutMs')) int(msg, 'rebalanceTimeoutMs', 1, I32_MAX);
      if (opt(msg, 'sessionTimeoutMs')) int(msg, 'sessionTimeoutMs', 1, I32_MAX);
      if (opt(msg, 'subscribedTopics')) strings(msg, 'subscribedTopics');
      if (opt(msg, 'subscribedPattern')) str(msg, 'subscribedPattern');
      if (opt(msg, 'ownedPartitions')) each(msg, 'ownedPartitions', topicPartitions);
      break;
    case Api.OffsetCommit:
      str(msg, 'groupId');
      if (opt(msg, 'memberId')) str(msg, 'memberId');
      if (opt(msg, 'memberEpoch')) int(msg, 'memberEpoch', -1, I32_MAX);
      each(msg, 'partitions', (p, at) => {
        partitionRef(p, at);
        int(p, 'offset', 0, MAX_SAFE, `${at}.offset`);
        if (opt(p, 'metadata')) str(p, 'metadata', `${at}.metadata`);
      });
      break;
    case Api.OffsetFetch:
      str(msg, 'groupId');
      if (opt(msg, 'partitions')) each(msg, 'partitions', partitionRef);
      break;
    case Api.OffsetDelete:
      str(msg, 'groupId');
      each(msg, 'partitions', partitionRef);
      break;
    case Api.ListGroups:
      if (opt(msg, 'states')) strings(msg, 'states');
      break;
    case Api.DescribeGroups:
    case Api.ConsumerGroupDescribe:
      strings(msg, 'groupIds');
      if (opt(msg, 'includeOffsets') && typeof msg.includeOffsets !== 'boolean') fail('includeOffsets must be a boolean');
      break;
    case Api.DeleteGroups:
      strings(msg, 'groupIds');
      break;
  }
}
