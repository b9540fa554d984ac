/**
 * Per-request cost of an ACL check (docs/security.md, "Authorization"): the broker's
 * `topicRefusal` on an allowed and a refused topic and `requireGroup`, with the principal's
 * own bindings among many other users' (the index keeps a check to its principal's bindings),
 * and the auth-off path (no principal: one field read).
 * Run: node --import tsx bench/acl.bench.ts   (prints median ns/check of 3 runs)
 */
import { AclSet, type AclBinding } from '../src/auth/acl.js';
import type { AclStore } from '../src/auth/acl-store.js';
import { Authorizer, topicRefusal, groupRefusal } from '../src/broker/authorize.js';
import type { RequestScope } from '../src/broker/context.js';

const N = 2_000_000;
const USERS = Number(process.env.USERS ?? 1000);
const bindings: AclBinding[] = [];
for (let u = 0; u < USERS; u++) {
  const principal = `user-${u}`;
  bindings.push({ principal, resourceType: 'topic', resourceName: `t-${u}`, patternType: 'literal', operation: 'write', permission: 'allow' });
  bindings.push({ principal, resourceType: 'topic', resourceName: `p-${u}-`, patternType: 'prefixed', operation: 'read', permission: 'allow' });
  bindings.push({ principal, resourceType: 'group', resourceName: `g-${u}`, patternType: 'literal', operation: 'read', permission: 'allow' });
  bindings.push({ principal, resourceType: 'topic', resourceName: `t-${u}-secret`, patternType: 'literal', operation: 'all', permission: 'deny' });
}
const store = { current: new AclSet(bindings) } as unknown as AclStore;
const ctx = { authorizer: new Authorizer(store, { superUsers: 'admin' }) };
const scope = (principal: string | undefined) => ({ principal }) as unknown as RequestScope;
const who = scope('user-7');
const off = scope(undefined);

function time(fn: () => unknown): number {
  for (let i = 0; i < 50_000; i++) fn();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) fn();
  return Number(process.hrtime.bigint() - t0) / N;
}
const median3 = (fn: () => unknown): number => [time(fn), time(fn), time(fn)].sort((a, b) => a - b)[1];

const cases: Record<string, () => unknown> = {
  'auth off: topicRefusal (no principal)': () => topicRefusal(ctx, off, 'write', 't-7'),
  'write on a literal topic, allowed': () => topicRefusal(ctx, who, 'write', 't-7'),
  'read on a prefixed topic, allowed': () => topicRefusal(ctx, who, 'read', 'p-7-orders'),
  'read, refused (builds the error)': () => topicRefusal(ctx, who, 'read', 'elsewhere'),
  'read on the group, allowed': () => groupRefusal(ctx, who, 'read', 'g-7'),
};
console.log(`${bindings.length} bindings (${USERS} users)`);
for (const [name, fn] of Object.entries(cases)) console.log(`${median3(fn).toFixed(1).padStart(8)} ns  ${name}`);
