// A controller pass that fails (etcd slow or briefly unreachable) runs again after a backoff, not
// only at the next change of the live brokers (controller.ts, retryLater): until a pass
// succeeds a dead broker's partitions have no leader, and a restarted broker is not ready (it
// waits for the controller to record its broker epoch). Here the pass after a broker's death
// fails once, exactly (the controller's etcd client refuses its read of the partitions), and no
// broker comes or goes after it. In-process against a real etcd.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Etcd3 } from 'etcd3';
import { ClusterKeys } from '../../src/cluster/keys.js';
import { EtcdSession } from '../../src/cluster/etcd-session.js';
import { BrokerDirectory, registerBroker } from '../../src/cluster/broker-registry.js';
import { ControllerElection } from '../../src/cluster/controller-election.js';
import { FailoverController } from '../../src/cluster/controller.js';
import { initialState } from '../../src/cluster/partition-state.js';
import { readPartitionState } from '../../src/cluster/partition-state-store.js';
import { until } from './cluster-helpers.js';
import { etcdForFile, etcdTool } from './etcd-process.js';

const env = etcdForFile();

/** `client`, except that the first read of the partitions prefix after `arm()` fails. */
function failingOnceClient(client: Etcd3, keys: ClusterKeys): { client: Etcd3; arm(): void; failed(): boolean } {
  let armed = false;
  let failed = false;
  const proxy = new Proxy(client, {
    get(target, prop, receiver) {
      if (prop !== 'getAll') return Reflect.get(target, prop, receiver) as unknown;
      return () => {
        const builder = target.getAll();
        const prefix = builder.prefix.bind(builder);
        let ofPartitions = false;
        builder.prefix = (p: string | Buffer) => { ofPartitions = p.toString() === keys.partitionsPrefix; return prefix(p); };
        const exec = builder.exec.bind(builder);
        builder.exec = async () => {
          if (armed && ofPartitions) {
            armed = false;
            failed = true;
            throw new Error('14 UNAVAILABLE: etcd did not answer (test)');
          }
          return exec();
        };
        return builder;
      };
    },
  });
  return { client: proxy, arm: () => { armed = true; }, failed: () => failed };
}

/** Brokers `ids` registered under `keys`, each with its own session (closed after the test), by id. */
async function registerBrokers(t: TestContext, keys: ClusterKeys, ids: number[]): Promise<Map<number, EtcdSession>> {
  const sessions = new Map<number, EtcdSession>();
  for (const id of ids) {
    const s = await EtcdSession.open(env.client, { ttlMs: 10_000 });
    t.after(() => s.close().catch(() => {}));
    await registerBroker(env.client, keys, s, { nodeId: id, url: `ws://127.0.0.1:${9000 + id}`, startedAt: Date.now() });
    sessions.set(id, s);
  }
  return sessions;
}

test('a pass that failed runs again on its own: a dead leader\'s partition gets its new leader with no later change of the live brokers', { skip: etcdTool.skip }, async (t) => {
  const keys = new ClusterKeys('pass-retry');
  const sessions = await registerBrokers(t, keys, [1, 2]);
  await env.client.put(keys.partition('t', 0)).value(JSON.stringify(initialState([2, 1])));
  const failing = failingOnceClient(env.client, keys);
  const election = new ControllerElection(env.client, keys, sessions.get(1)!, 1);
  const directory = await BrokerDirectory.open(env.client, keys);
  t.after(() => directory.close());
  const errors: string[] = [];
  const ctl = new FailoverController(failing.client, keys, election, directory, { onError: (err) => { errors.push(err.message); } });
  t.after(() => ctl.stop());
  await election.campaign();
  await ctl.idle();

  failing.arm();
  await sessions.get(2)!.close(); // broker 2's registration goes at once: the pass after it fails
  await until(async () => (failing.failed() ? true : undefined), 20_000, 'the pass after broker 2 left to fail');
  const s = await until(async () => {
    const cur = await readPartitionState(env.client, keys, 't', 0);
    return cur !== undefined && cur.state.leader === 1 ? cur.state : undefined;
  }, 20_000, 't-0 to get broker 1 as its leader after the failed pass (errors: see below)').catch((err: unknown) => {
    throw new Error(`${(err as Error).message}; the controller's errors: ${JSON.stringify(errors)}`);
  });
  assert.deepEqual(s, { replicas: [2, 1], leader: 1, leaderEpoch: 1, isr: [1] });
  assert.deepEqual(errors, ['14 UNAVAILABLE: etcd did not answer (test)'], 'the one failure was reported');
});

test('a partition key holding a value no broker wrote is skipped and reported: the pass decides every other partition', { skip: etcdTool.skip }, async (t) => {
  const keys = new ClusterKeys('pass-invalid');
  const sessions = await registerBrokers(t, keys, [1, 2]);
  for (let p = 0; p < 3; p++) await env.client.put(keys.partition('t', p)).value(JSON.stringify(initialState([2, 1])));
  await env.client.put(keys.partition('t', 3)).value('{not a state');
  const election = new ControllerElection(env.client, keys, sessions.get(1)!, 1);
  const directory = await BrokerDirectory.open(env.client, keys);
  t.after(() => directory.close());
  const errors: string[] = [];
  const invalid: string[] = [];
  const ctl = new FailoverController(env.client, keys, election, directory, {
    onError: (err) => { errors.push(err.message); },
    onInvalid: (key) => { invalid.push(key); },
  });
  t.after(() => ctl.stop());
  await election.campaign();
  await ctl.idle();
  await sessions.get(2)!.close();
  await until(async () => {
    const led = await Promise.all([0, 1, 2].map((p) => readPartitionState(env.client, keys, 't', p)));
    return led.every((s) => s?.state.leader === 1) ? true : undefined;
  }, 20_000, 'every readable partition broker 2 led to get broker 1').catch((err: unknown) => {
    throw new Error(`${(err as Error).message}; the controller's errors: ${JSON.stringify(errors)}`);
  });
  assert.deepEqual(errors, [], 'no pass failed');
  assert.ok(invalid.includes(keys.partition('t', 3)), `the bad key reported: ${JSON.stringify(invalid)}`);
});
