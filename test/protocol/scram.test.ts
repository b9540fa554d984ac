import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  makeCredential, passwordMatches, ScramClient, ScramError, ScramServer, SCRAM_SHA_256, credentialProblem, userNameProblem, type ScramCredential,
} from '../../src/protocol/scram.js';

const KEY = Buffer.alloc(32, 7);

/** One whole exchange; returns what the server answered last, or throws its ScramError. */
async function exchange(user: string, password: string, cred: ScramCredential | undefined): Promise<void> {
  const client = new ScramClient(user, password);
  const server = new ScramServer(KEY);
  const serverFirst = await server.first(client.first(), async () => cred);
  const serverFinal = server.final(await client.final(serverFirst));
  client.verify(serverFinal);
}

test('RFC 7677 section 3 test vector: the client proof and the server signature are the RFC\'s', async () => {
  const salt = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');
  const cred = await makeCredential('pencil', 4096, salt);
  const client = new ScramClient('user', 'pencil', 'rOprNGfwEbeRWgbNEkqO');
  const server = new ScramServer(KEY, '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0');
  assert.equal(client.first().toString(), 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO');
  const serverFirst = await server.first(client.first(), async (u) => (u === 'user' ? cred : undefined));
  assert.equal(serverFirst.toString(), 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096');
  const clientFinal = await client.final(serverFirst);
  assert.equal(clientFinal.toString(), 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=');
  const serverFinal = server.final(clientFinal);
  assert.equal(serverFinal.toString(), 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
  client.verify(serverFinal);
  assert.equal(server.user, 'user');
});

test('the right password logs in; a wrong one and an unknown user fail alike, at the final step', async () => {
  const cred = await makeCredential('s3cret', 4096);
  await exchange('alice', 's3cret', cred);
  await assert.rejects(exchange('alice', 'wrong', cred), (e: Error) => e instanceof ScramError && /unknown user or wrong password/.test(e.message));
  await assert.rejects(exchange('nobody', 's3cret', undefined), (e: Error) => e instanceof ScramError && /unknown user or wrong password/.test(e.message));
});

test('an unknown user gets the same made-up salt each time (its existence is not told by a changing salt)', async () => {
  const saltOf = async () => {
    const s = await new ScramServer(KEY).first(new ScramClient('ghost', 'x').first(), async () => undefined);
    return /s=([^,]+)/.exec(s.toString())![1];
  };
  assert.equal(await saltOf(), await saltOf());
});

test('a replayed client-final fails: the new exchange has another server nonce', async () => {
  const cred = await makeCredential('s3cret', 4096);
  const client = new ScramClient('alice', 's3cret');
  const first = client.first();
  const s1 = new ScramServer(KEY);
  const recordedFinal = await client.final(await s1.first(first, async () => cred));
  s1.final(recordedFinal); // the original exchange succeeds
  const s2 = new ScramServer(KEY);
  await s2.first(first, async () => cred);
  assert.throws(() => s2.final(recordedFinal), (e: Error) => e instanceof ScramError && /replayed/.test(e.message));
});

test('out-of-order and malformed messages are ScramErrors, not crashes', async () => {
  const s = new ScramServer(KEY);
  assert.throws(() => s.final(Buffer.from('c=biws,r=x,p=AAAA')), ScramError);
  for (const bad of ['', 'garbage', 'y,,n=a,r=b', 'n,,n=a', 'n,,r=b', 'n,,n=a=,r=b']) {
    await assert.rejects(new ScramServer(KEY).first(Buffer.from(bad), async () => undefined), ScramError, bad);
  }
  const client = new ScramClient('a', 'b');
  await assert.rejects(client.final(Buffer.from('r=someoneelse,s=AAAA,i=4096')), /does not extend/);
  await assert.rejects(new ScramClient('a', 'b', 'n1').final(Buffer.from('r=n1x,s=AAAA,i=10')), /iterations/);
});

test('a credential keeps no password, and fewer than 4096 iterations are refused', async () => {
  const c = await makeCredential('pw', 4096);
  assert.equal(c.mechanism, SCRAM_SHA_256);
  assert.ok(!JSON.stringify(c).includes('pw'));
  assert.equal(await passwordMatches(c, 'pw'), true);
  assert.equal(await passwordMatches(c, 'pW'), false);
  await assert.rejects(makeCredential('pw', 1000), /iterations/);
  assert.match(credentialProblem({ ...c, storedKey: Buffer.alloc(3) }) ?? '', /storedKey/);
  assert.match(userNameProblem('a/b') ?? '', /'\/'/);
  assert.equal(userNameProblem('a,b=c'), undefined);
  await exchange('a,b=c', 'pw', await makeCredential('pw', 4096));
});
