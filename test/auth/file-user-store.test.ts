import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FAKE_SALT_KEY_FILE, FileUserStore, USERS_FILE } from '../../src/auth/file-user-store.js';
import { InvalidCredentialError } from '../../src/auth/user-store.js';
import { makeCredential, passwordMatches } from '../../src/protocol/scram.js';

test('users survive a reopen, the file holds no password, and a delete is durable', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-users-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const a = await FileUserStore.open(dir);
  await a.upsert('alice', await makeCredential('alice-password', 4096));
  await a.upsert('bob', await makeCredential('bob-password', 4096));
  assert.ok(!readFileSync(join(dir, USERS_FILE), 'utf8').includes('password'));
  const b = await FileUserStore.open(dir);
  assert.deepEqual((await b.list()).map((u) => u.name), ['alice', 'bob']);
  assert.equal(await passwordMatches((await b.lookup('alice'))!, 'alice-password'), true);
  assert.equal(await b.delete('alice'), true);
  assert.equal(await b.delete('alice'), false);
  assert.equal(await (await FileUserStore.open(dir)).lookup('alice'), undefined);
});

test('a bad name or credential is refused and not stored; a damaged file is named', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-users-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const s = await FileUserStore.open(dir);
  const c = await makeCredential('pw', 4096);
  await assert.rejects(s.upsert('a/b', c), InvalidCredentialError);
  await assert.rejects(s.upsert('ok', { ...c, iterations: 100 }), InvalidCredentialError);
  assert.deepEqual(await s.list(), []);
  writeFileSync(join(dir, USERS_FILE), '{"version":1,"users":{"x":{"salt":"AA=="}}}');
  await assert.rejects(FileUserStore.open(dir), /users\.json, user "x"/);
});

test('the secret behind unknown users\' salts is made once and kept in the data directory: the same after a reopen', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-users-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const first = await (await FileUserStore.open(dir)).fakeSaltKey();
  assert.equal(first.length, 32);
  assert.deepEqual(await (await FileUserStore.open(dir)).fakeSaltKey(), first);
  writeFileSync(join(dir, FAKE_SALT_KEY_FILE), 'c2hvcnQ=\n');
  await assert.rejects((await FileUserStore.open(dir)).fakeSaltKey(), /scram-fake-salt\.key: not a 32-byte base64 key/);
});
