/**
 * The users of a cluster: one etcd key per user (`/<clusterName>/users/<name>`, the stored
 * credential as JSON, user-store.ts), so every broker checks logins against the same users
 * and a user added through any broker can log in at all of them. A login reads its one key
 * (a linearizable read: a user just deleted cannot log in anywhere afterwards); logins are
 * once per connection, so there is no cache to go stale.
 */
import type { Etcd3 } from 'etcd3';
import type { ClusterKeys } from '../cluster/keys.js';
import type { ScramCredential } from '../protocol/scram.js';
import { randomBytes } from 'node:crypto';
import { checkUser, decodeCredential, decodeFakeSaltKey, encodeCredential, FAKE_SALT_KEY_BYTES, type UserInfo, type UserStore } from './user-store.js';

export class EtcdUserStore implements UserStore {
  constructor(private readonly client: Etcd3, private readonly keys: ClusterKeys) {}

  async lookup(name: string): Promise<ScramCredential | undefined> {
    const key = this.keys.user(name);
    const text = await this.client.get(key).string();
    if (text === null) return undefined;
    return decodeCredential(parse(text, key), key);
  }

  async list(): Promise<UserInfo[]> {
    const prefix = this.keys.usersPrefix;
    const all = await this.client.getAll().prefix(prefix).strings();
    const out: UserInfo[] = [];
    for (const [key, text] of Object.entries(all)) {
      const c = decodeCredential(parse(text, key), key);
      out.push({ name: key.slice(prefix.length), mechanism: c.mechanism, iterations: c.iterations });
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async upsert(name: string, credential: ScramCredential): Promise<void> {
    checkUser(name, credential);
    await this.client.put(this.keys.user(name)).value(JSON.stringify(encodeCredential(credential)));
  }

  async delete(name: string): Promise<boolean> {
    const res = await this.client.delete().key(this.keys.user(name));
    return Number(res.deleted) > 0;
  }

  /**
   * One key for the cluster (`/<clusterName>/scram-fake-salt-key`): the first broker to ask
   * creates it (a transaction that writes only when the key is absent, so brokers racing at
   * start-up agree on one), every broker reads it.
   */
  async fakeSaltKey(): Promise<Buffer> {
    const key = this.keys.fakeSaltKey;
    const mine = randomBytes(FAKE_SALT_KEY_BYTES).toString('base64');
    await this.client.if(key, 'Create', '==', 0).then(this.client.put(key).value(mine)).commit();
    const text = await this.client.get(key).string();
    if (text === null) throw new Error(`${key} vanished right after it was created`);
    return decodeFakeSaltKey(text, key);
  }

  close(): Promise<void> {
    return Promise.resolve(); // the etcd client is the broker's (cluster-context.ts closes it)
  }

  /** Adds the user unless it exists: what each broker does at start-up for the inter-broker user, racing the others harmlessly. */
  async createIfAbsent(name: string, credential: ScramCredential): Promise<boolean> {
    checkUser(name, credential);
    const key = this.keys.user(name);
    const res = await this.client.if(key, 'Create', '==', 0).then(this.client.put(key).value(JSON.stringify(encodeCredential(credential)))).commit();
    return res.succeeded;
  }
}

function parse(text: string, key: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { bad: key }; // decodeCredential names the key
  }
}
