/**
 * Where client quotas live (docs/security.md, "Quotas and limits"): the contract, the
 * in-memory table both stores keep, and the JSON form of an entry. A single broker keeps
 * quotas in its data directory (file-quota-store.ts); a cluster keeps them in etcd
 * (etcd-quota-store.ts), watched, so every broker enforces the same. Reads are synchronous
 * (the table in memory): the broker rebuilds its lookup on every change, never per request.
 */
import type { ClientQuotaEntry, ClientQuotaValues } from '../protocol/api.js';
import {
  byteRateProblem, parseQuotaEntityKey, QUOTA_NAMES, quotaEntityKey, quotaEntityProblem, setQuotas, type QuotaEntity, type QuotaName,
} from '../protocol/client-quota.js';

export interface QuotaStore {
  /** Every entry now, sorted by entity key. */
  entries(): ClientQuotaEntry[];
  /**
   * Sets `set` and removes `remove` on one entity's entry (an entry left with no quota is
   * deleted); durable when it resolves, and the change listeners have run. Throws
   * InvalidQuotaError for a bad entity or value.
   */
  alter(entity: QuotaEntity, set: ClientQuotaValues, remove: readonly QuotaName[]): Promise<void>;
  /** `fn` runs after every change: through this store or, in a cluster, through another broker. */
  onChange(fn: () => void): void;
  close(): Promise<void>;
}

/** An entity or value a store refuses to keep (INVALID_REQUEST on the wire). */
export class InvalidQuotaError extends Error {}

/** Throws InvalidQuotaError unless `set` on `entity` may be stored. */
export function checkAlter(entity: QuotaEntity, set: ClientQuotaValues): void {
  const problem = quotaEntityProblem(entity) ?? setQuotas(set).map(([n, v]) => byteRateProblem(n, v)).find((p) => p !== undefined);
  if (problem !== undefined) throw new InvalidQuotaError(problem);
}

/** The entries by entity key, and who hears of changes: what both stores keep in memory. */
export class QuotaTable {
  private readonly byKey = new Map<string, ClientQuotaValues>();
  private readonly listeners: (() => void)[] = [];

  entries(): ClientQuotaEntry[] {
    return [...this.byKey].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, v]) => {
      const e = parseQuotaEntityKey(key)!;
      return { entityType: e.type, ...(e.name !== undefined && { name: e.name }), ...v };
    });
  }

  get(key: string): ClientQuotaValues | undefined {
    return this.byKey.get(key);
  }

  /** Replaces one entry (undefined or no quota: deletes it); does not tell the listeners. */
  put(key: string, v: ClientQuotaValues | undefined): void {
    if (v === undefined || setQuotas(v).length === 0) this.byKey.delete(key);
    else this.byKey.set(key, v);
  }

  /** Drops every entry (a store about to load them all again); does not tell the listeners. */
  clear(): void {
    this.byKey.clear();
  }

  onChange(fn: () => void): void {
    this.listeners.push(fn);
  }

  changed(): void {
    for (const fn of this.listeners) fn();
  }

  /** `{ "user:alice": { producerByteRate: 1048576 } }`: the stored form of every entry. */
  toJson(): Record<string, ClientQuotaValues> {
    return Object.fromEntries(this.byKey);
  }
}

/** A store over a QuotaTable: reads come from the table; each store says how it writes. */
export abstract class TableQuotaStore implements QuotaStore {
  protected constructor(protected readonly table: QuotaTable) {}

  entries(): ClientQuotaEntry[] {
    return this.table.entries();
  }

  onChange(fn: () => void): void {
    this.table.onChange(fn);
  }

  abstract alter(entity: QuotaEntity, set: ClientQuotaValues, remove: readonly QuotaName[]): Promise<void>;
  abstract close(): Promise<void>;
}

/** `v` with `set` applied and `remove` removed. */
export function altered(v: ClientQuotaValues | undefined, set: ClientQuotaValues, remove: readonly QuotaName[]): ClientQuotaValues {
  const out: ClientQuotaValues = { ...v };
  for (const [n, rate] of setQuotas(set)) out[n] = rate;
  for (const n of remove) delete out[n];
  return out;
}

/** The quotas a stored value holds; throws InvalidQuotaError naming `where` and what is wrong (a damaged or hand-edited store). */
export function decodeQuotaValues(v: unknown, where: string): ClientQuotaValues {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new InvalidQuotaError(`${where}: not a quota entry`);
  const out: ClientQuotaValues = {};
  for (const [k, rate] of Object.entries(v as Record<string, unknown>)) {
    if (!(QUOTA_NAMES as readonly string[]).includes(k)) throw new InvalidQuotaError(`${where}: unknown quota ${JSON.stringify(k)} (known: ${QUOTA_NAMES.join(', ')})`);
    const problem = byteRateProblem(k as QuotaName, rate);
    if (problem !== undefined) throw new InvalidQuotaError(`${where}: ${problem}`);
    out[k as QuotaName] = rate as number;
  }
  return out;
}

/** The entity of a stored key; throws InvalidQuotaError naming `where`. */
export function decodeEntityKey(key: string, where: string): string {
  if (parseQuotaEntityKey(key) === undefined) throw new InvalidQuotaError(`${where}: ${JSON.stringify(key)} is not a quota entity (user:NAME, client-id:NAME or default)`);
  return key;
}

export { quotaEntityKey };
