/**
 * The check of a persisted KIP-848 membership (cluster mode: one `["m", group]` record of
 * `__consumer_offsets`, docs/groups.md "Offsets log") before a new coordinator restores it.
 * The record comes from disk and another broker's replica: a damaged or hostile one must
 * neither crash the coordinator nor corrupt the group. What is wrong is skipped, each time
 * with a warning naming the group and the field:
 *
 *   the record itself (not a version-1 object), the group epochs, `members` not a list
 *                              -> the whole membership is dropped: its members get
 *                                 UNKNOWN_MEMBER_ID and rejoin (at-least-once holds)
 *   a member's id, epoch, subscription, or partitions (`assigned`, `revoking`), or a
 *   partition another member already holds
 *                              -> that member is dropped: its partitions are free, it rejoins
 *   a member's timeouts, `owned`, `state`, `targetSince`
 *                              -> replaced by a safe value (the group's default timeouts;
 *                                 owned = what it may hold; the state and target epoch that
 *                                 make it reconcile again)
 *   a `metadata` or `target` entry
 *                              -> that entry is dropped (the next heartbeat or topic change
 *                                 recomputes the target; partitions are only ever handed to
 *                                 a member while nobody holds them)
 *
 * Pure: no I/O; the coordinator logs the warnings.
 */
import { parseTpKey } from './types.js';
import type { MemberState } from './types.js';
import type { PersistedGroup, PersistedMember } from './group.js';
import { compilePattern } from './subscription-pattern.js';

/** What was wrong in a persisted membership, and what was done about it. */
export interface RestoreWarning {
  group: string;
  /** The field, e.g. `epoch`, `members[2].assigned`, `target[0]`. */
  field: string;
  problem: string;
}

/** The version of the packed record the coordinator writes (`{ v: 1, ...snapshot }`). */
export const PERSISTED_MEMBERSHIP_VERSION = 1;

const STATES: readonly MemberState[] = ['stable', 'unrevoked', 'unreleased'];

export interface MembershipDefaults {
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
}

/**
 * `raw` (an unpacked record) as a PersistedGroup that restore() can trust, or undefined when
 * nothing of it can be kept. Every problem is reported to `warn`.
 */
export function checkPersistedGroup(group: string, raw: unknown, defaults: MembershipDefaults, warn: (w: RestoreWarning) => void): PersistedGroup | undefined {
  const bad = (field: string, problem: string) => warn({ group, field, problem });
  if (!isObject(raw)) return void bad('(record)', 'not an object; membership dropped');
  if (raw.v !== PERSISTED_MEMBERSHIP_VERSION) return void bad('v', `version ${String(raw.v)} is not ${PERSISTED_MEMBERSHIP_VERSION}; membership dropped`);
  if (!isCount(raw.epoch)) return void bad('epoch', `${show(raw.epoch)} is not an epoch; membership dropped`);
  const epoch = raw.epoch;
  if (!isCount(raw.targetEpoch) || raw.targetEpoch > epoch) return void bad('targetEpoch', `${show(raw.targetEpoch)} is not an epoch at most the group's ${epoch}; membership dropped`);
  if (!Array.isArray(raw.members)) return void bad('members', 'not a list; membership dropped');

  const metadata: [string, number][] = [];
  if (!Array.isArray(raw.metadata)) bad('metadata', 'not a list; dropped');
  else {
    raw.metadata.forEach((e, i) => {
      if (Array.isArray(e) && e.length === 2 && typeof e[0] === 'string' && e[0] !== '' && isCount(e[1]) && e[1] > 0) metadata.push([e[0], e[1]]);
      else bad(`metadata[${i}]`, `${show(e)} is not [topic, partition count]; dropped`);
    });
  }

  const members: PersistedMember[] = [];
  const ids = new Set<string>();
  const holder = new Map<string, string>();
  raw.members.forEach((pm, i) => {
    const m = checkMember(pm, epoch, defaults, (field, problem) => bad(`members[${i}].${field}`, problem));
    if (!m) return;
    if (ids.has(m.id)) return void bad(`members[${i}].id`, `'${m.id}' appears twice; member dropped`);
    const taken = [...m.assigned, ...m.revoking].find((k) => holder.has(k));
    if (taken !== undefined) {
      const tp = parseTpKey(taken);
      return void bad(`members[${i}].assigned`, `${tp.topic}/${tp.partition} is already held by '${holder.get(taken)}'; member '${m.id}' dropped`);
    }
    ids.add(m.id);
    for (const k of [...m.assigned, ...m.revoking]) holder.set(k, m.id);
    members.push(m);
  });

  const target: [string, string[]][] = [];
  if (!Array.isArray(raw.target)) bad('target', 'not a list; dropped');
  else {
    const targeted = new Set<string>();
    raw.target.forEach((e, i) => {
      const ok = Array.isArray(e) && e.length === 2 && typeof e[0] === 'string' && ids.has(e[0]) && !target.some(([id]) => id === e[0])
        && isKeyList(e[1]) && !e[1].some((k) => targeted.has(k));
      if (!ok) return void bad(`target[${i}]`, 'not [a member of the group, its partitions (none in another target)]; dropped');
      for (const k of e[1] as string[]) targeted.add(k);
      target.push([e[0] as string, [...(e[1] as string[])]]);
    });
  }
  return { epoch, targetEpoch: raw.targetEpoch, metadata, members, target };
}

/** One member, or undefined (reported) when its identity, subscription or partitions cannot be trusted. */
function checkMember(pm: unknown, groupEpoch: number, defaults: MembershipDefaults, bad: (field: string, problem: string) => void): PersistedMember | undefined {
  if (!isObject(pm)) return void bad('(member)', 'not an object; dropped');
  if (typeof pm.id !== 'string' || pm.id === '') return void bad('id', `${show(pm.id)} is not a member id; member dropped`);
  if (!isCount(pm.epoch) || pm.epoch > groupEpoch) return void bad('epoch', `${show(pm.epoch)} is not an epoch at most the group's ${groupEpoch}; member '${pm.id}' dropped`);
  for (const f of ['assigned', 'revoking'] as const) {
    if (!isKeyList(pm[f])) return void bad(f, `not a list of partitions; member '${pm.id}' dropped`);
  }
  const topics = pm.topics ?? null;
  const pattern = pm.pattern ?? null;
  if (topics !== null && !(Array.isArray(topics) && topics.every((t) => typeof t === 'string' && t !== ''))) return void bad('topics', `not a list of topic names; member '${pm.id}' dropped`);
  if (pattern !== null) {
    try {
      compilePattern(pattern);
    } catch (err) {
      return void bad('pattern', `${(err as Error).message}; member '${pm.id}' dropped`);
    }
  }
  if ((topics === null) === (pattern === null)) return void bad('topics', `a member subscribes by topics or by pattern, not ${topics === null ? 'neither' : 'both'}; member '${pm.id}' dropped`);
  // Unfiltered is not a safe default: a member whose user is unreadable would be assigned every match of its pattern.
  if (pm.principal !== undefined && (typeof pm.principal !== 'string' || pm.principal === '')) return void bad('principal', `${show(pm.principal)} is not a user name; member '${pm.id}' dropped`);
  const assigned = pm.assigned as string[];
  const revoking = pm.revoking as string[];

  const previousEpoch = Number.isSafeInteger(pm.previousEpoch) && (pm.previousEpoch as number) >= -1 && (pm.previousEpoch as number) <= pm.epoch
    ? pm.previousEpoch as number : (bad('previousEpoch', `${show(pm.previousEpoch)} is not an epoch below ${pm.epoch}; -1 used (no previous epoch accepted)`), -1);
  const timeout = (f: 'sessionTimeoutMs' | 'rebalanceTimeoutMs') => {
    const v = pm[f];
    if (isCount(v) && v > 0) return v;
    bad(f, `${show(v)} is not a positive number of ms; the group default ${defaults[f]} used`);
    return defaults[f];
  };
  const sessionTimeoutMs = timeout('sessionTimeoutMs');
  const rebalanceTimeoutMs = timeout('rebalanceTimeoutMs');
  // What it may hold, when what it said it owns is unreadable: a revocation is then confirmed only by its next heartbeat.
  const owned = isKeyList(pm.owned) ? pm.owned : (bad('owned', `not a list of partitions; its partitions used`), [...assigned, ...revoking]);
  const state = STATES.includes(pm.state as MemberState) ? pm.state as MemberState
    : (bad('state', `${show(pm.state)} is not a member state; '${revoking.length > 0 ? 'unrevoked' : 'unreleased'}' used`), revoking.length > 0 ? 'unrevoked' : 'unreleased');
  // The group epoch makes it count as not settled until it reaches the target again.
  const targetSince = isCount(pm.targetSince) && pm.targetSince <= groupEpoch ? pm.targetSince
    : (bad('targetSince', `${show(pm.targetSince)} is not an epoch at most the group's; ${groupEpoch} used`), groupEpoch);
  return {
    id: pm.id, epoch: pm.epoch, previousEpoch, topics: topics === null ? null : [...(topics as string[])], pattern: pattern as string | null,
    ...(typeof pm.principal === 'string' && { principal: pm.principal }),
    rebalanceTimeoutMs, sessionTimeoutMs, assigned: [...assigned], revoking: [...revoking], owned: [...owned], state, targetSince,
  };
}

/** A list of distinct topic-partition keys (tpKey: topic, NUL, partition number). */
function isKeyList(v: unknown): v is string[] {
  if (!Array.isArray(v)) return false;
  const seen = new Set<string>();
  for (const k of v) {
    if (typeof k !== 'string' || seen.has(k)) return false;
    const i = k.lastIndexOf('\0');
    const p = k.slice(i + 1);
    if (i <= 0 || !/^(0|[1-9]\d{0,9})$/.test(p) || Number(p) > 0x7fffffff) return false;
    seen.add(k);
  }
  return true;
}

function isCount(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function show(v: unknown): string {
  let s: string;
  try {
    // A bigint (msgpack's 64-bit integers) or a cycle makes JSON.stringify throw: the warning
    // about a bad field must not itself take the coordinator down.
    s = typeof v === 'string' ? `'${v}'` : JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x)) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}
