/**
 * The ACLs of a single broker: `<dataDir>/acls.json`, replaced whole and atomically
 * (storage/atomic-file.ts), as users.json is (file-user-store.ts). Read once when the store
 * opens; the broker is its only writer while it runs, and `sluice acl add --data-dir`
 * writes it before start-up.
 *
 * Layout: { "version": 1, "acls": [ { principal, resourceType, resourceName, patternType, operation, permission } ] }
 */
import { join } from 'node:path';
import { readOptionalText, writeFileAtomic } from '../storage/atomic-file.js';
import { aclKey, AclSet, type AclBinding } from './acl.js';
import { checkedBindings, keyed, type AclStore } from './acl-store.js';

export const ACLS_FILE = 'acls.json';
const VERSION = 1;

export class FileAclStore implements AclStore {
  current: AclSet;
  /** Writes run one at a time, each writing the set as it is then. */
  private writing: Promise<void> = Promise.resolve();

  private constructor(private readonly path: string, private readonly acls: Map<string, AclBinding>) {
    this.current = new AclSet(acls.values());
  }

  /** Opens the store of `dataDir` (no file: no ACLs yet). Throws naming the file when it is damaged. */
  static async open(dataDir: string): Promise<FileAclStore> {
    const path = join(dataDir, ACLS_FILE);
    const text = await readOptionalText(path);
    if (text === null) return new FileAclStore(path, new Map());
    let json: { version?: unknown; acls?: unknown };
    try {
      json = JSON.parse(text) as typeof json;
    } catch (err) {
      throw new Error(`${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
    }
    if (json.version !== VERSION || !Array.isArray(json.acls)) throw new Error(`${path} is not a version ${VERSION} ACL file`);
    return new FileAclStore(path, keyed(checkedBindings(json.acls, `${path}, binding`)));
  }

  async add(bindings: readonly AclBinding[]): Promise<void> {
    const added = checkedBindings(bindings).filter((b) => !this.acls.has(aclKey(b)));
    if (added.length === 0) return;
    for (const b of added) this.acls.set(aclKey(b), b);
    await this.commit(() => { for (const b of added) this.acls.delete(aclKey(b)); });
  }

  async remove(bindings: readonly AclBinding[]): Promise<boolean[]> {
    const gone: AclBinding[] = [];
    const out = bindings.map((b) => {
      const key = aclKey(b);
      const had = this.acls.get(key);
      if (had === undefined) return false;
      this.acls.delete(key);
      gone.push(had);
      return true;
    });
    if (gone.length > 0) await this.commit(() => { for (const b of gone) this.acls.set(aclKey(b), b); });
    return out;
  }

  close(): Promise<void> {
    return this.writing;
  }

  /** Applies the map as it is now and writes it; when the write fails, `undo` puts the map back (a later write saves it as it is then). */
  private async commit(undo: () => void): Promise<void> {
    this.current = new AclSet(this.acls.values());
    const run = async (): Promise<void> => {
      await writeFileAtomic(this.path, `${JSON.stringify({ version: VERSION, acls: [...this.acls.values()] }, null, 2)}\n`);
    };
    const next = this.writing.then(run, run);
    this.writing = next.catch(() => {});
    try {
      await next;
    } catch (err) {
      undo();
      this.current = new AclSet(this.acls.values());
      throw err;
    }
  }
}
