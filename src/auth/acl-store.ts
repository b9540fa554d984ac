/**
 * Where ACLs live (docs/security.md, "Authorization"), beside the users: a single broker keeps
 * them in its data directory (file-acl-store.ts), a cluster in etcd (etcd-acl-store.ts),
 * watched, so a binding added or removed through any broker applies at every broker without
 * a restart. `current` is read on every authorized request: it is an in-memory AclSet,
 * replaced whole when the bindings change, never a store read.
 */
import { aclKey, aclProblem, binding, type AclBinding, type AclSet } from './acl.js';

export interface AclStore {
  /** The bindings as this broker knows them now. */
  readonly current: AclSet;
  /** Adds the bindings (one already there is kept once); durable when it resolves. Throws InvalidAclError for a bad binding, storing none. */
  add(bindings: readonly AclBinding[]): Promise<void>;
  /** Removes the bindings; per binding, whether it was there. */
  remove(bindings: readonly AclBinding[]): Promise<boolean[]>;
  close(): Promise<void>;
}

/** A binding a store refuses to keep (INVALID_REQUEST on the wire, naming the field). */
export class InvalidAclError extends Error {}

/** The bindings, checked and stripped to their fields; throws InvalidAclError naming the first bad one. */
export function checkedBindings(bindings: readonly unknown[], where = 'ACL binding'): AclBinding[] {
  return bindings.map((b, i) => {
    const problem = aclProblem(b);
    if (problem !== undefined) throw new InvalidAclError(`${where} ${i}: ${problem}`);
    return binding(b as AclBinding);
  });
}

/** Bindings by identity (aclKey), what both stores keep in memory. */
export function keyed(bindings: readonly AclBinding[]): Map<string, AclBinding> {
  return new Map(bindings.map((b) => [aclKey(b), b]));
}
