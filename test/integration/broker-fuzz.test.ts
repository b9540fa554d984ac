/**
 * Property-based fuzz of the wire protocol against the real broker process: "bad input gets
 * a clear error, never a crash and never lost data" (docs/protocol.md, refused frames and
 * whole-request errors).
 *
 * One broker holds a topic with a few known records (acks all). fast-check, with a fixed
 * seed, then generates a few hundred frames and sends them one at a time over a small pool
 * of raw connections:
 *   - a request of every known api built from a valid template, then mutated: fields
 *     removed or replaced by wrong types, NaN/Infinity/huge/negative numbers, long
 *     strings, hostile topic names ('../fz-esc', 'a/b', NUL), nested garbage, maps with
 *     keys like `toString` or `__proto__`, random binary in `records`, batches whose header
 *     lies about their records under a valid CRC, a garbage id;
 *   - a known api with an entirely random body; random msgpack values; random bytes;
 *     deeply nested arrays and maps.
 * Each frame must get exactly what the protocol promises: a map with a readable id gets a
 * response with that id, either a well-formed success or an error from the wire table
 * (UNKNOWN_SERVER_ERROR counts as a failure: it means a bug); anything else closes that
 * connection with 1007 or 1008. Nothing may hang (per-request timeout). A closed slot is
 * reconnected.
 *
 * Afterwards the process is alive, /healthz answers, a fresh client reads back exactly the
 * known records, and the data dir holds only partition directories of legal topic names
 * (no hostile name escaped into the data dir's parents or the broker's cwd).
 *
 * The known topic is never the target of a write that could legitimately change its
 * records: only corrupt record sets are produced to it, it is never in a delete, and no
 * garbage string equals its name (growing its partition count leaves partition 0 alone),
 * so any change to its records is a broker bug. Failures print the seed and the offending frame; rerun with
 * SLUICE_FUZZ_SEED=<seed> (and SLUICE_FUZZ_RUNS=<n>) to reproduce.
 *
 * This file is the regression corpus: one fixed seed plus REGRESSIONS, on every npm test.
 * The generators and checks live in fuzz-cases.ts, which `npm run fuzz -- --duration S`
 * (scripts/fuzz.ts) runs with random seeds.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { startBroker } from './harness.js';
import {
  CASES, FUZZ_BROKER_ARGS, REGRESSIONS, checkAfterFuzz, checkStrays, closeFuzzSession, newTally, runCase, setUpFuzzBroker,
  type FuzzSession,
} from './fuzz-cases.js';

const SEED = Number(process.env.SLUICE_FUZZ_SEED ?? 0x51c3);
const RUNS = Number(process.env.SLUICE_FUZZ_RUNS ?? 600);

let session: FuzzSession | undefined;

before(async () => {
  session = await setUpFuzzBroker(await startBroker({ args: FUZZ_BROKER_ARGS }));
});

after(async () => {
  if (!session) return;
  closeFuzzSession(session);
  await session.broker.stop();
});

test(`fuzzed requests get a response or a close code, never a crash or hang (seed ${SEED}, ${RUNS} runs)`, async () => {
  const s = session!;
  const tally = newTally();
  await fc.assert(fc.asyncProperty(CASES, (input) => runCase(s, input, tally)), { seed: SEED, numRuns: RUNS, endOnFailure: true, examples: REGRESSIONS });
  checkStrays(s);
  const o = tally.outcomes;
  console.log(`broker-fuzz seed ${SEED}: ${JSON.stringify(o)}`);
  assert.ok((o['answered ok'] ?? 0) > 0 && (o['error INVALID_REQUEST'] ?? 0) > 0 && (o['closed 1007'] ?? 0) > 0, 'the fuzz reached successes, errors and refusals');
});

test('after the fuzz the broker is healthy and the known records are intact', async () => {
  await checkAfterFuzz(session!);
});
