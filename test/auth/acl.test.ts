import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ACL_OPERATIONS, AclSet, aclProblem, authorize, superUserSet, type AclBinding, type Operation, type Privileged, type Resource,
} from '../../src/auth/acl.js';

const NOBODY: Privileged = { superUsers: new Set(), brokerUser: undefined };
const OPS = ACL_OPERATIONS.filter((o): o is Operation => o !== 'all');

function allow(principal: string, resourceType: AclBinding['resourceType'], resourceName: string, operation: AclBinding['operation'], patternType: AclBinding['patternType'] = 'literal'): AclBinding {
  return { principal, resourceType, resourceName, patternType, operation, permission: 'allow' };
}
function deny(b: AclBinding): AclBinding {
  return { ...b, permission: 'deny' };
}
const topic = (name: string): Resource => ({ type: 'topic', name });

/** The rules of docs/security.md written the slow, obvious way: the model the indexed matcher must agree with. */
function model(bindings: readonly AclBinding[], principal: string, op: Operation, r: Resource): boolean {
  const matches = bindings.filter((b) => (b.principal === principal || b.principal === '*')
    && b.resourceType === r.type
    && (r.type === 'cluster' || (b.patternType === 'prefixed' ? r.name.startsWith(b.resourceName) : b.resourceName === r.name || b.resourceName === '*')));
  if (matches.some((b) => b.permission === 'deny' && (b.operation === op || b.operation === 'all'))) return false;
  return matches.some((b) => b.permission === 'allow' && (b.operation === op || b.operation === 'all' || op === 'describe'));
}

const names = fc.constantFrom('a', 'ab', 'abc', 'b', 'orders', 'orders-eu', '*');
const arbBinding: fc.Arbitrary<AclBinding> = fc.record({
  principal: fc.constantFrom('alice', 'bob', '*'),
  resourceType: fc.constantFrom('topic', 'group', 'cluster'),
  resourceName: names,
  patternType: fc.constantFrom('literal', 'prefixed'),
  operation: fc.constantFrom(...ACL_OPERATIONS),
  permission: fc.constantFrom('allow', 'deny'),
}).map((b): AclBinding => (b.resourceType === 'cluster' ? { ...b, resourceName: '', patternType: 'literal' } : b));
const arbResource: fc.Arbitrary<Resource> = fc.oneof(
  fc.record({ type: fc.constantFrom('topic' as const, 'group' as const), name: fc.constantFrom('a', 'ab', 'abc', 'b', 'orders', 'orders-eu', 'x') }),
  fc.constant({ type: 'cluster' as const, name: '' }),
);

test('the indexed matcher agrees with the plain reading of the rules, for any bindings', () => {
  fc.assert(fc.property(fc.array(arbBinding, { maxLength: 25 }), fc.constantFrom('alice', 'bob', 'carol'), fc.constantFrom(...OPS), arbResource, (bs, p, op, r) => {
    assert.equal(authorize(new AclSet(bs), NOBODY, p, op, r), model(bs, p, op, r));
  }), { numRuns: 3000 });
});

test('deny wins: adding a matching deny to any bindings refuses', () => {
  fc.assert(fc.property(fc.array(arbBinding, { maxLength: 20 }), fc.constantFrom(...OPS), fc.boolean(), (bs, op, viaAll) => {
    const d = deny(allow('alice', 'topic', 'orders', viaAll ? 'all' : op));
    const acls = new AclSet([...bs, allow('alice', 'topic', 'orders', op), d]);
    assert.equal(authorize(acls, NOBODY, 'alice', op, topic('orders')), false);
  }));
});

test('what no ACL allows is denied; an allow grants exactly its operation, and describe', () => {
  assert.equal(authorize(AclSet.EMPTY, NOBODY, 'alice', 'read', topic('t')), false);
  const acls = new AclSet([allow('alice', 'topic', 'orders', 'write')]);
  for (const op of OPS) assert.equal(authorize(acls, NOBODY, 'alice', op, topic('orders')), op === 'write' || op === 'describe', op);
  assert.equal(authorize(acls, NOBODY, 'alice', 'write', topic('orders2')), false, 'a literal name is exact');
  assert.equal(authorize(acls, NOBODY, 'bob', 'write', topic('orders')), false, 'another principal');
  assert.equal(authorize(acls, NOBODY, 'alice', 'write', { type: 'group', name: 'orders' }), false, 'another resource type');
});

test('prefix bindings match names that start with the prefix; * matches every principal or name', () => {
  const acls = new AclSet([allow('alice', 'topic', 'orders-', 'read', 'prefixed'), allow('*', 'group', 'g', 'read'), allow('bob', 'topic', '*', 'write')]);
  assert.equal(authorize(acls, NOBODY, 'alice', 'read', topic('orders-eu')), true);
  assert.equal(authorize(acls, NOBODY, 'alice', 'read', topic('orders')), false);
  assert.equal(authorize(acls, NOBODY, 'carol', 'read', { type: 'group', name: 'g' }), true);
  assert.equal(authorize(acls, NOBODY, 'bob', 'write', topic('anything')), true);
});

test('a cluster binding grants topic changes only where asked for (alsoCluster), and a topic deny still wins', () => {
  const acls = new AclSet([allow('alice', 'cluster', '', 'create')]);
  assert.equal(authorize(acls, NOBODY, 'alice', 'create', topic('t')), false);
  assert.equal(authorize(acls, NOBODY, 'alice', 'create', topic('t'), true), true);
  const denied = new AclSet([allow('alice', 'cluster', '', 'create'), deny(allow('alice', 'topic', 't', 'create'))]);
  assert.equal(authorize(denied, NOBODY, 'alice', 'create', topic('t'), true), false);
});

test('super users may do everything but touch internal topics; the broker user may do everything', () => {
  const who: Privileged = { superUsers: superUserSet(' admin, root '), brokerUser: 'broker' };
  const acls = new AclSet([deny(allow('admin', 'topic', 't', 'all')), allow('alice', 'topic', '__', 'all', 'prefixed')]);
  assert.equal(authorize(acls, who, 'admin', 'read', topic('t')), true, 'a super user is above the ACLs');
  assert.equal(authorize(acls, who, 'root', 'alter', { type: 'cluster', name: '' }), true);
  for (const p of ['admin', 'alice']) {
    assert.equal(authorize(acls, who, p, 'write', topic('__consumer_offsets')), false, p);
    assert.equal(authorize(acls, who, p, 'read', topic('__share_state')), false, p);
  }
  assert.equal(authorize(acls, who, 'broker', 'read', topic('__consumer_offsets')), true);
  assert.equal(authorize(acls, who, 'admin', 'describe', topic('__consumer_offsets')), true, 'placement is not records');
});

test('a binding with a bad field is named; the cluster has no name; duplicates are kept once', () => {
  assert.equal(aclProblem(allow('a', 'topic', 't', 'read')), undefined);
  assert.match(aclProblem({ ...allow('a', 'topic', 't', 'read'), operation: 'fly' })!, /operation must be one of/);
  assert.match(aclProblem(allow('a', 'topic', '', 'read'))!, /needs a resource name/);
  assert.match(aclProblem(allow('a', 'cluster', 'x', 'alter'))!, /cluster binding/);
  assert.match(aclProblem({ ...allow('', 'topic', 't', 'read') })!, /principal/);
  assert.equal(new AclSet([allow('a', 'topic', 't', 'read'), allow('a', 'topic', 't', 'read')]).size, 1);
});
