/**
 * Where users live (docs/security.md): the contract, and the one JSON form of a stored SCRAM
 * credential. A single broker keeps users in its data directory (file-user-store.ts); a
 * cluster keeps them in etcd (cluster/etcd-user-store.ts), so every broker checks the same.
 * A store holds credentials only (salt, iterations, StoredKey, ServerKey), never a password.
 */
import { credentialProblem, SCRAM_SHA_256, userNameProblem, type ScramCredential } from '../protocol/scram.js';

/** What `user list` shows of a user: never a key or the salt. */
export interface UserInfo {
  name: string;
  mechanism: string;
  iterations: number;
}

export interface UserStore {
  /** The user's credential, or undefined when there is no such user. */
  lookup(name: string): Promise<ScramCredential | undefined>;
  /** Every user, sorted by name. */
  list(): Promise<UserInfo[]>;
  /** Adds the user or replaces its credential; durable when it resolves. Throws InvalidCredentialError for a bad name or credential. */
  upsert(name: string, credential: ScramCredential): Promise<void>;
  /** Removes the user; false when there was none. */
  delete(name: string): Promise<boolean>;
  /**
   * The secret the salts of unknown users are derived from (protocol/scram.ts), made once and
   * kept with the users: the same on every broker of a cluster and across restarts, so a
   * missing user's salt never changes between answers and cannot be told from a real one.
   */
  fakeSaltKey(): Promise<Buffer>;
  close(): Promise<void>;
}

/** Bytes of the secret behind unknown users' salts (an HMAC-SHA-256 key). */
export const FAKE_SALT_KEY_BYTES = 32;

/** The secret as stored (base64 text); throws naming `where` when it is not FAKE_SALT_KEY_BYTES bytes. */
export function decodeFakeSaltKey(text: string, where: string): Buffer {
  const key = Buffer.from(text.trim(), 'base64');
  if (key.length !== FAKE_SALT_KEY_BYTES) throw new InvalidCredentialError(`${where}: not a ${FAKE_SALT_KEY_BYTES}-byte base64 key`);
  return key;
}

/** A user name or credential a store refuses to keep (UNACCEPTABLE_CREDENTIAL on the wire). */
export class InvalidCredentialError extends Error {}

/** Throws InvalidCredentialError unless `name` and `c` may be stored. */
export function checkUser(name: string, c: ScramCredential): void {
  const problem = userNameProblem(name) ?? credentialProblem(c);
  if (problem !== undefined) throw new InvalidCredentialError(problem);
}

/** A credential as stored in JSON (users.json, an etcd value): binary fields in base64. */
export interface StoredCredential {
  mechanism: string;
  iterations: number;
  salt: string;
  storedKey: string;
  serverKey: string;
}

export function encodeCredential(c: ScramCredential): StoredCredential {
  return { mechanism: c.mechanism, iterations: c.iterations, salt: c.salt.toString('base64'), storedKey: c.storedKey.toString('base64'), serverKey: c.serverKey.toString('base64') };
}

/** The credential a stored value holds; throws InvalidCredentialError naming what is wrong (a damaged or hand-edited store). */
export function decodeCredential(v: unknown, where: string): ScramCredential {
  const o = v as Partial<StoredCredential> | null;
  if (o === null || typeof o !== 'object' || typeof o.salt !== 'string' || typeof o.storedKey !== 'string' || typeof o.serverKey !== 'string') {
    throw new InvalidCredentialError(`${where}: not a stored SCRAM credential`);
  }
  const c: ScramCredential = {
    mechanism: o.mechanism as typeof SCRAM_SHA_256, iterations: o.iterations as number,
    salt: Buffer.from(o.salt, 'base64'), storedKey: Buffer.from(o.storedKey, 'base64'), serverKey: Buffer.from(o.serverKey, 'base64'),
  };
  const problem = credentialProblem(c);
  if (problem !== undefined) throw new InvalidCredentialError(`${where}: ${problem}`);
  return c;
}
