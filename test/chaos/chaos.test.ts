/**
 * A 60-second chaos run (scripts/chaos/run-chaos.ts) with a fixed seed, as part of npm test:
 * three brokers and etcd, the produce, consumer-group and queue workloads at once, and the
 * default faults, on every broker but the share group's coordinator (faults on it found an
 * acked job handed out again, open in issue 14: docs/cluster.md; `--target-coordinator` runs
 * that combination), the consumer group's
 * coordinator (wherever its `__consumer_offsets` partition leads) favoured: CI's seed-34 run
 * caught a coordinator answering after it lost its partition
 * (test/cluster/coordinator-fencing.test.ts). Seed 34's schedule with the default faults
 * (reassign among them since it passed the long runs of docs/cluster.md): two leadership moves
 * (one off the group's coordinator), a pause, a kill; it draws no reassign (the long runs and
 * test/chaos/fault-choice.test.ts cover that). Needs etcd (fails without).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULTS, runChaos } from '../../scripts/chaos/run-chaos.js';

test('chaos seed 34, 60 s, 3 brokers: every check passes after kill, pause, cut-etcd, cut-net and move-leader faults', { timeout: 300_000 }, async (t) => {
  const lines: string[] = [];
  const report = await runChaos({
    ...DEFAULTS,
    seed: 34,
    durationS: 60,
    quietS: 10,
    holdMs: [2000, 8000],
    gapMs: [2000, 5000],
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
