/**
 * Which requests may reach the broker after their caller gave up on them (client/connection.ts,
 * `timedOut`). A request's deadline can pass while its frame still sits in the socket's buffer
 * (the broker stopped reading, the link stalled); the frame then goes out whenever the socket
 * drains. The caller has taken the timeout as "not done" and may have sent the request again
 * meanwhile, or moved on: a late copy must then change nothing that the caller relies on.
 *
 * Safe late:
 * - requests that only read (metadata, fetches, offsets, descriptions, lists);
 * - a Produce whose every batch carries a producer id (the idempotent producer): the broker
 *   drops a batch whose sequence it already has (or refuses an out-of-order one), so a late
 *   copy is never stored twice;
 * - an OffsetCommit with a `commitSeq`: the coordinator never lets an older commit of the
 *   same committer overwrite a newer one (group/commit-order.ts);
 * - InitProducerId: a late one hands out a producer id nobody uses.
 * Everything else is not (a Produce without producer id is stored again; a late heartbeat,
 * share acquire or ack, topic or ACL change acts on a state the caller has moved past), and
 * so is any api added later until it is listed here: the cost of the safe side is a reconnect.
 */
import { Api } from '../protocol/api.js';
import { batchSizeAt, PRODUCER_ID, readInt64, RECORDS } from '../record/index.js';

/** Reads, and InitProducerId. */
const HARMLESS_LATE: ReadonlySet<number> = new Set([
  Api.Fetch, Api.ListOffsets, Api.Metadata, Api.DescribeTopics, Api.ApiVersions, Api.OffsetsForLeaderEpoch,
  Api.ListPartitionReassignments, Api.FindCoordinator, Api.DescribeUserScramCredentials, Api.DescribeClientQuotas,
  Api.DescribeAcls, Api.OffsetFetch, Api.DescribeGroups, Api.ListGroups, Api.ConsumerGroupDescribe, Api.ShareDescribe,
  Api.VerifyTopic, Api.FailsafeCheck, Api.InitProducerId,
]);

export function safeToSendLate(api: number, body: object): boolean {
  if (HARMLESS_LATE.has(api)) return true;
  if (api === Api.Produce) return (body as { partitions?: { records?: Uint8Array }[] }).partitions?.every((p) => p.records !== undefined && allIdempotent(p.records)) ?? false;
  if (api === Api.OffsetCommit) return (body as { commitSeq?: number }).commitSeq !== undefined;
  return false;
}

/** Every batch in `records` has a producer id (>= 0); false for bytes that are not whole batches. */
function allIdempotent(records: Uint8Array): boolean {
  const buf = Buffer.from(records.buffer, records.byteOffset, records.byteLength);
  let pos = 0;
  while (pos < buf.length) {
    const size = batchSizeAt(buf, pos);
    if (size < RECORDS || pos + size > buf.length) return false;
    if (readInt64(buf, pos + PRODUCER_ID) < 0) return false;
    pos += size;
  }
  return pos > 0;
}
