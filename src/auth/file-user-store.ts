/**
 * The users of a single broker: `<dataDir>/users.json`, replaced whole and atomically
 * (storage/atomic-file.ts: temp file, fsync, rename), so a crash leaves the old or the new
 * file, never half of one. The file is small (one entry per user) and read once when the
 * store opens; the broker is its only writer while it runs, and `sluice user add --data-dir`
 * writes it before start-up (the first admin).
 *
 * Layout: { "version": 1, "users": { "<name>": { mechanism, iterations, salt, storedKey, serverKey } } }
 * (binary fields in base64; user-store.ts).
 */
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { readOptionalText, writeFileAtomic } from '../storage/atomic-file.js';
import { readVersionedMap } from './versioned-json-file.js';
import type { ScramCredential } from '../protocol/scram.js';
import {
  checkUser, decodeCredential, decodeFakeSaltKey, encodeCredential, FAKE_SALT_KEY_BYTES, type StoredCredential, type UserInfo, type UserStore,
} from './user-store.js';

export const USERS_FILE = 'users.json';
/** The secret behind unknown users' salts (user-store.ts `fakeSaltKey`), base64; made by the first broker start. */
export const FAKE_SALT_KEY_FILE = 'scram-fake-salt.key';
const VERSION = 1;

export class FileUserStore implements UserStore {
  /** Writes run one at a time, each writing the whole map as it is then. */
  private writing: Promise<void> = Promise.resolve();

  private constructor(private readonly path: string, private readonly users: Map<string, ScramCredential>) {}

  /** Opens the store of `dataDir` (no file: no users yet). Throws naming the file when it is damaged. */
  static async open(dataDir: string): Promise<FileUserStore> {
    const path = join(dataDir, USERS_FILE);
    const stored = await readVersionedMap(path, VERSION, 'users', 'users');
    const users = new Map<string, ScramCredential>();
    for (const [name, v] of Object.entries(stored ?? {})) users.set(name, decodeCredential(v, `${path}, user ${JSON.stringify(name)}`));
    return new FileUserStore(path, users);
  }

  lookup(name: string): Promise<ScramCredential | undefined> {
    return Promise.resolve(this.users.get(name));
  }

  list(): Promise<UserInfo[]> {
    return Promise.resolve([...this.users].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, c]) => ({ name, mechanism: c.mechanism, iterations: c.iterations })));
  }

  async upsert(name: string, credential: ScramCredential): Promise<void> {
    checkUser(name, credential);
    const before = this.users.get(name);
    this.users.set(name, credential);
    await this.save().catch((err: unknown) => {
      // Not durable: the user keeps what the file has (a later save writes the map as it is then).
      if (this.users.get(name) === credential) before === undefined ? this.users.delete(name) : this.users.set(name, before);
      throw err;
    });
  }

  async delete(name: string): Promise<boolean> {
    const before = this.users.get(name);
    if (before === undefined || !this.users.delete(name)) return false;
    await this.save().catch((err: unknown) => {
      if (!this.users.has(name)) this.users.set(name, before);
      throw err;
    });
    return true;
  }

  /** Read from the data directory, or made and written there (atomically) the first time. */
  async fakeSaltKey(): Promise<Buffer> {
    const path = join(dirname(this.path), FAKE_SALT_KEY_FILE);
    const text = await readOptionalText(path);
    if (text !== null) return decodeFakeSaltKey(text, path);
    const key = randomBytes(FAKE_SALT_KEY_BYTES);
    await writeFileAtomic(path, `${key.toString('base64')}\n`);
    return key;
  }

  close(): Promise<void> {
    return this.writing;
  }

  private save(): Promise<void> {
    const run = async (): Promise<void> => {
      const users: Record<string, StoredCredential> = {};
      for (const [name, c] of this.users) users[name] = encodeCredential(c);
      await writeFileAtomic(this.path, `${JSON.stringify({ version: VERSION, users }, null, 2)}\n`);
    };
    const next = this.writing.then(run, run);
    this.writing = next.catch(() => {});
    return next;
  }
}
