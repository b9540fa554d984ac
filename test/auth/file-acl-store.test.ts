import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ACLS_FILE, FileAclStore } from '../../src/auth/file-acl-store.js';
import { InvalidAclError } from '../../src/auth/acl-store.js';
import type { AclBinding } from '../../src/auth/acl.js';

const read: AclBinding = { principal: 'alice', resourceType: 'topic', resourceName: 'orders', patternType: 'literal', operation: 'read', permission: 'allow' };

test('ACLs survive a reopen, apply at once, and a removal is durable', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-acls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const a = await FileAclStore.open(dir);
  await a.add([read, read, { ...read, operation: 'write', permission: 'deny' }]);
  assert.equal(a.current.size, 2);
  assert.equal(a.current.verdict('alice', 'read', [{ type: 'topic', name: 'orders' }]), 'allow');
  assert.deepEqual((await FileAclStore.open(dir)).current.list(), a.current.list());
  assert.deepEqual(await a.remove([read, read]), [true, false]);
  assert.equal(a.current.verdict('alice', 'read', [{ type: 'topic', name: 'orders' }]), 'none');
  assert.equal((await FileAclStore.open(dir)).current.size, 1);
});

test('a bad binding is refused and nothing stored; a damaged file is named', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-acls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const s = await FileAclStore.open(dir);
  await assert.rejects(s.add([read, { ...read, resourceName: '' }]), InvalidAclError);
  assert.equal(s.current.size, 0);
  writeFileSync(join(dir, ACLS_FILE), '{"version":1,"acls":[{"principal":"x"}]}');
  await assert.rejects(FileAclStore.open(dir), /acls\.json, binding 0: resourceType/);
});
