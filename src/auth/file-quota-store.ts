/**
 * The client quotas of a single broker: `<dataDir>/quotas.json`, replaced whole and
 * atomically (storage/atomic-file.ts), read once when the store opens. The broker is its
 * only writer while it runs (changes through AlterClientQuotas apply at once, no restart);
 * `sluice quota set --data-dir` writes it while the broker is stopped.
 *
 * Layout: { "version": 1, "quotas": { "<entity key>": { "producerByteRate": n, "consumerByteRate": n } } }
 * (entity keys as protocol/client-quota.ts spells them: `user:alice`, `client-id:app`, `default`).
 */
import { join } from 'node:path';
import { writeFileAtomic } from '../storage/atomic-file.js';
import type { ClientQuotaValues } from '../protocol/api.js';
import type { QuotaEntity, QuotaName } from '../protocol/client-quota.js';
import { altered, checkAlter, decodeEntityKey, decodeQuotaValues, quotaEntityKey, QuotaTable, TableQuotaStore } from './quota-store.js';
import { readVersionedMap } from './versioned-json-file.js';

export const QUOTAS_FILE = 'quotas.json';
const VERSION = 1;

export class FileQuotaStore extends TableQuotaStore {
  private writing: Promise<void> = Promise.resolve();

  private constructor(private readonly path: string, table: QuotaTable) {
    super(table);
  }

  /** Opens the store of `dataDir` (no file: no quotas). Throws naming the file when it is damaged. */
  static async open(dataDir: string): Promise<FileQuotaStore> {
    const path = join(dataDir, QUOTAS_FILE);
    const stored = await readVersionedMap(path, VERSION, 'quotas', 'quotas');
    const table = new QuotaTable();
    for (const [key, v] of Object.entries(stored ?? {})) table.put(decodeEntityKey(key, path), decodeQuotaValues(v, `${path}, ${key}`));
    return new FileQuotaStore(path, table);
  }

  async alter(entity: QuotaEntity, set: ClientQuotaValues, remove: readonly QuotaName[]): Promise<void> {
    checkAlter(entity, set);
    const key = quotaEntityKey(entity);
    const before = this.table.get(key);
    const after = altered(before, set, remove);
    this.table.put(key, after);
    await this.save().catch((err: unknown) => {
      // Not durable: the entry keeps what the file has.
      this.table.put(key, before);
      throw err;
    });
    this.table.changed();
  }

  close(): Promise<void> {
    return this.writing;
  }

  private save(): Promise<void> {
    const run = (): Promise<void> => writeFileAtomic(this.path, `${JSON.stringify({ version: VERSION, quotas: this.table.toJson() }, null, 2)}\n`);
    const next = this.writing.then(run, run);
    this.writing = next.catch(() => {});
    return next;
  }
}
