/**
 * Client quotas (docs/security.md, "Quotas and limits"): the entities a quota is for, the
 * quota names and their ranges, and the client id a connection announces. Pure: the broker,
 * the stores and the client share these rules.
 *
 * Which entity a connection's traffic counts against:
 *   - `auth: scram`: its user. The user's own entry, else the default entry. Client-id
 *     entries are not consulted: a client picks its id freely, so a user could otherwise
 *     escape its quota by naming another client's id.
 *   - `auth: none`: its client id (the `sluice-client-id` upgrade header; none is the empty
 *     id, which all such clients share). The client id's entry, else the default entry.
 * Each entity (each user, each client id) has its own budget, also when its quota comes from
 * the default entry, as in Kafka. A broker enforces the quota on its own traffic: a client
 * talking to three brokers may move three times the rate.
 */
import type { ClientQuotaValues, QuotaEntityType } from './api.js';

/** The quota names, as the wire, the stores and `sluice quota set` spell them. */
export const QUOTA_NAMES = ['producerByteRate', 'consumerByteRate'] as const;
export type QuotaName = (typeof QUOTA_NAMES)[number];

/** Smallest and largest byte rate a quota may set (bytes per second). */
export const MIN_BYTE_RATE = 1;
export const MAX_BYTE_RATE = Number.MAX_SAFE_INTEGER;

/** Longest user name or client id an entry may name (a user name's own limit, protocol/scram.ts). */
export const MAX_QUOTA_ENTITY_CHARS = 255;

/** The upgrade request header carrying the client id (`ConnectionOptions.clientId`). */
export const CLIENT_ID_HEADER = 'sluice-client-id';

export interface QuotaEntity {
  type: QuotaEntityType;
  /** The user or client id; absent for 'default'. */
  name?: string;
}

/** Why `e` cannot carry a quota, or undefined: a named entity needs a name, the default none. */
export function quotaEntityProblem(e: QuotaEntity): string | undefined {
  if (e.type === 'default') return e.name === undefined ? undefined : 'the default entry takes no name';
  const n = e.name;
  if (typeof n !== 'string' || n.length === 0) return `a ${e.type} entry needs a non-empty name`;
  if (n.length > MAX_QUOTA_ENTITY_CHARS) return `a ${e.type} name has at most ${MAX_QUOTA_ENTITY_CHARS} characters`;
  // Control characters would break log lines and metric labels; '/' would nest etcd keys.
  if (/[\u0000-\u001f\u007f/]/.test(n)) return `${e.type} ${JSON.stringify(n)} holds a control character or '/'`;
  return undefined;
}

/** Why `v` is not a byte rate, or undefined. */
export function byteRateProblem(name: QuotaName, v: unknown): string | undefined {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < MIN_BYTE_RATE) return `${name} must be an integer of at least ${MIN_BYTE_RATE} (bytes per second), got ${String(v)}`;
  return undefined;
}

/** `user:alice`, `client-id:app`, `default`: one string per entity (store keys, metric labels, logs). */
export function quotaEntityKey(e: QuotaEntity): string {
  return e.type === 'default' ? 'default' : `${e.type}:${e.name!}`;
}

/** The entity of a key quotaEntityKey made; undefined for anything else. */
export function parseQuotaEntityKey(key: string): QuotaEntity | undefined {
  if (key === 'default') return { type: 'default' };
  for (const type of ['user', 'client-id'] as const) {
    if (key.startsWith(`${type}:`)) {
      const e = { type, name: key.slice(type.length + 1) };
      return quotaEntityProblem(e) === undefined ? e : undefined;
    }
  }
  return undefined;
}

/** The quotas of `v` that are set, in QUOTA_NAMES order (empty: the entity has no entry). */
export function setQuotas(v: ClientQuotaValues): [QuotaName, number][] {
  const out: [QuotaName, number][] = [];
  for (const n of QUOTA_NAMES) if (v[n] !== undefined) out.push([n, v[n]]);
  return out;
}
