/**
 * Admin calls for consumer groups (Admin delegates here): list, describe, fetch offsets,
 * reset offsets, delete. Errors of the whole call or of the named group are raised as
 * BrokerError; describe of an unknown group raises GROUP_ID_NOT_FOUND.
 */
import {
  Api, type DeleteGroupsResponse, type DescribeGroupsResponse, type GroupDescription as WireGroupDescription, type ListGroupsResponse, type OffsetCommitResponse,
  type OffsetFetchResponse,
} from '../protocol/api.js';
import { randomUUID } from 'node:crypto';
import { BrokerError, ERRORS } from '../protocol/errors.js';
import type { GroupLink } from './coordinator-route.js';
import { InvalidArgumentError } from './errors.js';
import type { TopicPartition } from './types.js';

/** A group as its coordinator describes it, and which broker that is. */
export interface GroupDescription extends WireGroupDescription {
  /** Node id of the coordinating broker (cluster mode); -1 on a single broker, which coordinates every group. */
  coordinator?: number;
}

export interface GroupListing {
  groupId: string;
  state: string;
  groupEpoch: number;
  members: number;
}

export interface CommittedOffset extends TopicPartition {
  /** -1 when nothing is committed. */
  offset: number;
  metadata: string;
}

/** Where resetOffsets moves each partition of the topic. */
export type ResetSpec = 'earliest' | 'latest' | { offset: number } | { timestamp: number | Date } | { shiftBy: number };

export interface GroupOffsetReset extends TopicPartition {
  /** Committed before (-1: none). */
  from: number;
  to: number;
}

/**
 * Numbers one client's simple commits (OffsetCommit without a member id): the coordinator
 * applies one committer's commits in this order, whatever order they arrive in (a resend after
 * a coordinator move, two resets at once), so an older one never moves an offset back
 * (group/commit-order.ts). One per Admin.
 */
export class SimpleCommitter {
  readonly id = randomUUID();
  private seq = 0;

  next(): number {
    return this.seq++;
  }
}

/** What group-admin needs from Admin for offsets of the log itself. */
export interface LogOffsets {
  listOffsets(what: string, spec: 'earliest' | 'latest' | { timestamp: number | Date }): Promise<{ topic: string; partition: number; offset: number }[]>;
}

export async function listGroups(conn: GroupLink): Promise<GroupListing[]> {
  const res = await conn.request(Api.ListGroups, {});
  return res.groups;
}

/**
 * One list from the lists of several brokers (cluster mode: each lists the groups it
 * coordinates), by group id. A group listed twice (its coordinator moving while the lists
 * were asked) is taken at its highest group epoch.
 */
export function mergeGroupListings(lists: readonly (readonly GroupListing[])[]): GroupListing[] {
  const byId = new Map<string, GroupListing>();
  for (const list of lists) {
    for (const g of list) {
      const seen = byId.get(g.groupId);
      if (!seen || g.groupEpoch > seen.groupEpoch) byId.set(g.groupId, g);
    }
  }
  return [...byId.values()].sort((a, b) => (a.groupId < b.groupId ? -1 : a.groupId > b.groupId ? 1 : 0));
}

export async function describeGroup(conn: GroupLink, groupId: string): Promise<GroupDescription> {
  const res = await conn.request(Api.ConsumerGroupDescribe, { groupIds: [groupId], includeOffsets: true });
  const g = res.groups[0];
  if (!g) throw new BrokerError(ERRORS.GROUP_ID_NOT_FOUND.code, `no group '${groupId}'`);
  if (g.error && g.error.code !== 0) throw new BrokerError(g.error.code, g.error.code === ERRORS.GROUP_ID_NOT_FOUND.code ? `no group '${groupId}'` : g.error.message, { group: groupId });
  return g;
}

export async function fetchOffsets(conn: GroupLink, groupId: string, partitions?: TopicPartition[]): Promise<CommittedOffset[]> {
  const res = await conn.request(Api.OffsetFetch, { groupId, ...(partitions ? { partitions } : {}) });
  return res.partitions.map((p) => {
    if (p.error && p.error.code !== 0) throw new BrokerError(p.error.code, `fetch offsets of group '${groupId}' (${p.topic}/${p.partition}): ${p.error.message}`);
    return { topic: p.topic, partition: p.partition, offset: p.offset, metadata: p.metadata };
  });
}

export async function deleteGroup(conn: GroupLink, groupId: string): Promise<void> {
  const res = await conn.request(Api.DeleteGroups, { groupIds: [groupId] });
  const e = res.groups[0]?.error;
  if (e && e.code !== 0) throw new BrokerError(e.code, `delete group '${groupId}': ${e.message}`, { group: groupId });
}

/**
 * Moves the group's committed offsets of every partition of `topic`, clamped to what the
 * log holds. Refused (NON_EMPTY_GROUP) while the group has members: a running member would
 * overwrite the new offsets with its next commit. With dryRun nothing is written. Of two
 * resets of one `committer`, the one called last wins, whichever commit arrives last.
 */
export async function resetOffsets(conn: GroupLink, admin: LogOffsets, committer: SimpleCommitter, groupId: string, topic: string, spec: ResetSpec,
  opts: { dryRun?: boolean } = {}): Promise<GroupOffsetReset[]> {
  const commitSeq = committer.next();
  const listed = (await listGroups(conn)).find((g) => g.groupId === groupId);
  if (listed && listed.members > 0) {
    throw new BrokerError(ERRORS.NON_EMPTY_GROUP.code, `group '${groupId}' has ${listed.members} member(s); stop its consumers before resetting offsets`, { group: groupId });
  }
  const [starts, ends] = await Promise.all([admin.listOffsets(topic, 'earliest'), admin.listOffsets(topic, 'latest')]);
  const current = await fetchOffsets(conn, groupId, ends.map(({ topic: t, partition }) => ({ topic: t, partition })));
  let targets: Map<number, number>;
  if (spec === 'earliest') targets = new Map(starts.map((x) => [x.partition, x.offset]));
  else if (spec === 'latest') targets = new Map(ends.map((x) => [x.partition, x.offset]));
  else if ('offset' in spec) {
    if (!Number.isInteger(spec.offset) || spec.offset < 0) throw new InvalidArgumentError('offset must be an integer >= 0');
    targets = new Map(ends.map((x) => [x.partition, spec.offset]));
  } else if ('timestamp' in spec) {
    targets = new Map((await admin.listOffsets(topic, { timestamp: spec.timestamp })).map((x) => [x.partition, x.offset]));
  } else if ('shiftBy' in spec) {
    if (!Number.isInteger(spec.shiftBy)) throw new InvalidArgumentError('shiftBy must be an integer');
    const endOf = new Map(ends.map((x) => [x.partition, x.offset]));
    // A partition with nothing committed shifts from its log end (where a new consumer with 'latest' would start).
    targets = new Map(current.map((c) => [c.partition, (c.offset >= 0 ? c.offset : endOf.get(c.partition)!) + spec.shiftBy]));
  } else throw new InvalidArgumentError(`reset spec must be 'earliest', 'latest', {offset}, {timestamp} or {shiftBy}`);
  const startOf = new Map(starts.map((x) => [x.partition, x.offset]));
  const out: GroupOffsetReset[] = ends.map((e) => {
    const want = targets.get(e.partition) ?? e.offset;
    const to = Math.min(e.offset, Math.max(startOf.get(e.partition) ?? 0, want));
    const from = current.find((c) => c.partition === e.partition)?.offset ?? -1;
    return { topic, partition: e.partition, from, to };
  }).sort((a, b) => a.partition - b.partition);
  if (opts.dryRun || out.length === 0) return out;
  const res = await conn.request(Api.OffsetCommit, {
    groupId, partitions: out.map(({ partition, to }) => ({ topic, partition, offset: to })), commitSeq, committerId: committer.id,
  });
  for (const p of res.partitions) {
    if (p.error && p.error.code !== 0) throw new BrokerError(p.error.code, `reset offsets of group '${groupId}' (${p.topic}/${p.partition}): ${p.error.message}`);
  }
  return out;
}
