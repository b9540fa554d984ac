// The controller election through etcd, against a real etcd: one controller at a time, a
// SIGKILLed controller replaced within its lease TTL with a higher epoch, and a deposed
// controller's writes refused by etcd itself (the create-revision guard), not by its belief.
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { ControllerElection } from '../../src/cluster/controller-election.js';
import { ControllerFencedError, SessionExpiredError } from '../../src/cluster/errors.js';
import { EtcdSession } from '../../src/cluster/etcd-session.js';
import { ClusterKeys } from '../../src/cluster/keys.js';
import { startMember, until } from './cluster-helpers.js';
import { etcdForFile, etcdTool } from './etcd-process.js';
import { startTcpProxy } from '../tcp-proxy.js';

const TTL_MS = 2000;
// The member processes run the broker's default lease: they never rejoin after losing it
// (fixtures/member.ts), so with 2 s a 3 s stall of one (the stall run's freezes; CI) killed
// the member the test was about (its campaign or registration failed: exit 1, or it was no
// longer a candidate), as controller.test.ts found in session 12.
const MEMBER_TTL_MS = 6000;
const env = etcdForFile();

const opts = { skip: etcdTool.skip };

/** Two candidates (node ids 1 and 2) on sessions of their own, closed when the test ends. */
async function twoCandidates(t: TestContext, keys: ClusterKeys) {
  const sa = await EtcdSession.open(env.client, { ttlMs: 5000 });
  const sb = await EtcdSession.open(env.client, { ttlMs: 5000 });
  t.after(async () => { await sa.close(); await sb.close(); });
  return { sa, sb, a: new ControllerElection(env.client, keys, sa, 1), b: new ControllerElection(env.client, keys, sb, 2) };
}

test('one controller at a time; a SIGKILLed controller is replaced within the lease TTL by a higher epoch', opts, async (t) => {
  const keys = new ClusterKeys('sluice');
  const first = startMember(env.etcd.url, 1, { TTL_MS: String(MEMBER_TTL_MS) });
  t.after(() => { first.kill(); });
  const epoch1 = (await first.next('elected')) as number;
  const second = startMember(env.etcd.url, 2, { TTL_MS: String(MEMBER_TTL_MS) });
  t.after(() => { second.kill(); });
  await second.next('registered');

  const observer = await EtcdSession.open(env.client, { ttlMs: TTL_MS });
  t.after(() => observer.close());
  const view = new ControllerElection(env.client, keys, observer, 99);
  // The second member is a candidate (its key exists) but does not lead while the first lives.
  const candidates = await env.client.getAll().prefix(keys.controllerPrefix).keys();
  assert.equal(candidates.length, 2, 'both members are candidates');
  assert.equal(await view.leader(), 1);

  const killedAt = performance.now();
  first.kill();
  const epoch2 = (await second.next('elected', 30_000)) as number;
  const took = performance.now() - killedAt;
  // The lease TTL plus room for a stall: a successor that waited for anything but the
  // lease (or never came) takes far longer.
  assert.ok(took < MEMBER_TTL_MS + 8000, `the new controller was elected ${Math.round(took)} ms after the kill`);
  assert.ok(epoch2 > epoch1, `the epoch grew (${epoch1} -> ${epoch2})`);
  assert.equal(await view.leader(), 2);
});

test('a deposed controller cannot write: etcd refuses its fenced transaction, the successor\'s goes through', opts, async (t) => {
  const keys = new ClusterKeys('fence');
  const { sa, sb, a, b } = await twoCandidates(t, keys);
  const epochA = await a.campaign();
  const bElected = b.campaign();

  // A's candidacy disappears behind its back (what a lease expiry during a long pause looks
  // like from etcd's side); A's own session is still valid, so only etcd can stop it.
  await env.client.delete().key(keys.controllerCandidate(sa.leaseId));
  const epochB = await bElected;
  assert.ok(epochB > epochA);
  assert.equal(a.epoch, epochA, 'A still believes it leads');

  await assert.rejects(
    a.fencedTxn([env.client.put('/fence/partitions/t/0').value('from A')]),
    (err: unknown) => err instanceof ControllerFencedError && err.retriable,
  );
  assert.equal(await env.client.get('/fence/partitions/t/0').string(), null, 'nothing A wrote took effect');
  assert.equal(a.epoch, undefined, 'A knows it is deposed once etcd refused it');

  const res = await b.fencedTxn([env.client.put('/fence/partitions/t/0').value('from B')]);
  assert.ok(res.succeeded);
  assert.equal(await env.client.get('/fence/partitions/t/0').string(), 'from B');
});

test('a session fences itself before its lease can expire when etcd stops answering', opts, async (t) => {
  const s = await EtcdSession.open(env.client, { ttlMs: TTL_MS });
  t.after(() => s.close());
  const keys = new ClusterKeys('selffence');
  const e = new ControllerElection(env.client, keys, s, 1);
  await e.campaign();
  const deposed = new Promise<void>((resolveP) => { e.once('deposed', resolveP); });
  const fenced = new Promise<number>((resolveP) => { s.once('fenced', () => { resolveP(performance.now()); }); });

  // Every keep-alive etcd answered so far was sent before this instant, so etcd cannot
  // expire the lease before pausedAt + TTL; the session must count itself fenced by then.
  const pausedAt = performance.now();
  env.etcd.pause();
  t.after(() => { env.etcd.resume(); });
  const fencedAt = await fenced;
  await deposed;
  assert.equal(s.isValid(pausedAt + TTL_MS), false, 'not valid at the earliest moment etcd could expire the lease');
  assert.equal(e.epoch, undefined, 'the controller stepped down with its fence');
  assert.ok(fencedAt - pausedAt < 30_000);
  env.etcd.resume();
});

test('a candidate whose session is lost while it waits gives up with SessionExpiredError (retriable), not a plain Error', opts, async (t) => {
  const keys = new ClusterKeys('lostwait');
  const { sa, sb, a, b } = await twoCandidates(t, keys);
  await a.campaign();
  // Its outcome is caught at once: B may give up as soon as its session closes, before A resigns.
  const bWaits = b.campaign().then(() => 'won', (err: unknown) => err);
  // B is queued behind A; its candidate key exists, then its session ends (revoked: the key goes).
  await until(async () => ((await env.client.getAll().prefix(keys.controllerPrefix).keys()).length === 2 ? true : undefined), 10_000, 'B\'s candidacy');
  await sb.close();
  await a.resign();
  const err = await bWaits;
  assert.ok(err instanceof SessionExpiredError && err.code === 'SESSION_EXPIRED' && err.retriable, String(err));
  assert.equal(b.epoch, undefined, 'B never led');
});

test('a candidate whose campaign meets an etcd it cannot reach, its session still valid, keeps campaigning and is elected once the leader resigns', opts, async (t) => {
  const keys = new ClusterKeys('unreachable-campaign');
  const sa = await EtcdSession.open(env.client, { ttlMs: 5000 });
  // B's session keeps its lease over the direct client, so it stays valid throughout; only
  // B's election talks through the proxy, which is cut when B starts campaigning (a broker
  // whose etcd link drops between its registration and its campaign, or whose client's
  // circuit breaker is open then: chaos seed 82).
  const sb = await EtcdSession.open(env.client, { ttlMs: 5000 });
  const proxy = await startTcpProxy(Number(new URL(env.etcd.url).port));
  const viaProxy = new Etcd3({ hosts: proxy.url });
  t.after(async () => { await sa.close(); await sb.close(); viaProxy.close(); await proxy.close(); });
  const a = new ControllerElection(env.client, keys, sa, 1);
  const b = new ControllerElection(viaProxy, keys, sb, 2);
  const epochA = await a.campaign();

  proxy.cut();
  const outcome = b.campaign().then((epoch) => ({ epoch }), (err: unknown) => ({ err }));
  // Either B is retrying, or (the old behaviour) its campaign already gave up.
  await Promise.race([new Promise((resolveP) => { b.once('retrying', resolveP); }), outcome]);
  proxy.restore();
  assert.ok(sb.isValid(), 'B\'s session stayed valid: nothing but the campaign failed');
  await a.resign();
  const won = await Promise.race([outcome, new Promise<{ err: string }>((resolveP) => { setTimeout(() => { resolveP({ err: 'not elected within 30 s' }); }, 30_000).unref(); })]);
  assert.ok('epoch' in won, `B is elected once A resigns: ${'err' in won ? String(won.err) : ''}`);
  assert.ok(won.epoch > epochA, `a higher epoch (${epochA} -> ${won.epoch})`);
  assert.equal(b.epoch, won.epoch);
});
