/**
 * A 60-second chaos run (scripts/chaos/run-chaos.ts) with a fixed seed, as part of npm test:
 * three brokers and etcd, the produce, consumer-group and queue workloads at once, and the
 * default faults on every broker, the share group's coordinator included (`targetCoordinator`:
 * faults on it once found acked jobs handed out again, fixed by the share-service commit fence
 * and QueueConsumer's drop of jobs prefetched before a move, docs/cluster.md), the consumer group's
 * coordinator (wherever its `__consumer_offsets` partition leads) favoured: CI's seed-34 run
 * caught a coordinator answering after it lost its partition
 * (test/cluster/coordinator-fencing.test.ts). Seed 34's schedule with the default faults on
 * every broker begins with two leadership moves (the group's coordinator, then the share
 * group's home); on a machine at load average 30 only those two fitted in the 50 s of faults
 * and the fault-count check below failed with no anomaly, so the run now goes on past its
 * window until 4 faults (one on the group coordinator) succeeded (`minFaults`). Needs etcd
 * (fails without).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULTS, runChaos } from '../../scripts/chaos/run-chaos.js';

test('chaos seed 34, 60 s, 3 brokers: every check passes after kill, pause, cut-etcd, cut-net and move-leader faults', { timeout: 300_000 }, async (t) => {
  const lines: string[] = [];
  const report = await runChaos({
    ...DEFAULTS,
    seed: 34,
    targetCoordinator: true,
    durationS: 60,
    quietS: 10,
    holdMs: [2000, 8000],
    gapMs: [2000, 5000],
    // A loaded CI machine recovers slowly and fits fewer faults in 50 s: the run goes on (at
    // most 60 s more) until the asserts below about the faults can hold.
    minFaults: { total: 4, groupCoordinator: 1, maxExtraS: 60 },
    log: (l) => lines.push(l),
  });
  t.diagnostic(report.summary);
  const why = `${report.summary}\n${JSON.stringify(report.anomalies.slice(0, 10), null, 1)}\n${report.notes.join('\n')}\n${lines.join('\n')}`;
  assert.deepEqual(report.anomalies, [], why);
  // The run did what it claims: faults were injected, and every workload made progress.
  const faults = Object.values(report.faults).reduce((a, b) => a + b, 0);
  assert.ok(faults >= 4, `at least 4 faults injected: ${why}`);
  for (const f of ['produce', 'consume', 'commit', 'read-offsets', 'enqueue', 'deliver', 'ack']) {
    assert.ok((report.ops[f]?.ok ?? 0) > 0, `some ${f} ops succeeded: ${why}`);
  }
  assert.deepEqual(report.notes, [], why);
  // The group's coordinator is replicated now: the run must have hit its broker.
  assert.ok(report.groupCoordinatorFaults >= 1, `a fault hit the group coordinator's broker: ${why}`);
  // One fault at a time: each healed, and the cluster recovered, before the next.
  const nemesis = report.history!.filter((o) => o.process === 'nemesis' && o.type !== 'invoke' && ['fault', 'heal', 'recover'].includes(o.f));
  nemesis.forEach((o, i) => {
    assert.equal(o.f, ['fault', 'heal', 'recover'][i % 3], `nemesis op ${i} (${o.f}) in fault/heal/recover order: ${why}`);
    assert.equal(o.type, 'ok', `nemesis ${o.f} ${JSON.stringify(o.value)} succeeded: ${o.error ?? ''}`);
  });
});
