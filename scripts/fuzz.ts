/**
 * Open-ended wire fuzz: the generators and checks of test/integration/broker-fuzz.test.ts
 * (shared in test/integration/fuzz-cases.ts), run with random seeds against a real broker
 * for a while. Not part of npm test; the test keeps one fixed seed as the regression corpus.
 *
 *   npm run fuzz -- --duration 300            random seeds for 300 s
 *   npm run fuzz -- --seed 1234567 [--runs N] replay one seed
 *
 * Each seed gets a fresh broker (compiled dist/, built first) on a fresh data dir, so a
 * seed replays against the same starting state. A seed sends --runs frames (default 300)
 * and fails on the first broken promise: a crash, no answer within the per-frame bound, a
 * response outside the protocol; afterwards the broker must answer /healthz and Metadata,
 * hold the known topic's records unchanged and have written nothing outside its data dir.
 * A failure prints the seed, the frame and the replay command, and keeps the data dir.
 * At the end (or on Ctrl-C) it prints totals: seeds, frames sent, frames per api,
 * outcomes, failures. Exit status 1 when anything failed.
 */
import { spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { startBroker, type BrokerHandle } from '../test/integration/harness.js';
import { ROOT } from '../test/integration/cli-entry.js';
import {
  CASES, FUZZ_BROKER_ARGS, checkAfterFuzz, checkStrays, closeFuzzSession, newTally, runCase, setUpFuzzBroker,
  type FuzzSession, type Tally,
} from '../test/integration/fuzz-cases.js';

/** How long the broker may take to answer /healthz after a seed before that counts as a failure. */
const HEALTH_TIMEOUT_MS = 10_000;

const { values: opts } = parseArgs({
  options: {
    duration: { type: 'string', default: '60' },
    seed: { type: 'string' },
    runs: { type: 'string', default: '300' },
  },
});
const durationS = Number(opts.duration);
const runs = Number(opts.runs);
const replay = opts.seed === undefined ? undefined : Number(opts.seed);
if (!(durationS > 0) || !Number.isInteger(runs) || runs <= 0 || (replay !== undefined && !Number.isInteger(replay))) {
  console.error('usage: npm run fuzz -- [--duration SECONDS] [--seed N] [--runs FRAMES_PER_SEED]');
  process.exit(2);
}

// Brokers run the compiled CLI (as under npm test): faster to start, no tsx process.
// scripts/build-dist.mjs: safe while another run in this checkout starts brokers from dist/.
const build = spawnSync(process.execPath, [resolve(ROOT, 'scripts/build-dist.mjs')], { cwd: ROOT, stdio: 'inherit' });
if (build.status !== 0) {
  console.error('fuzz: the build (scripts/build-dist.mjs) failed');
  process.exit(1);
}
process.env.TEST_SLUICE_CLI = resolve(ROOT, 'dist/cli/main.js');

interface Failure { seed: number; message: string; dataDir: string }

const tally: Tally = newTally();
const failures: Failure[] = [];
let seeds = 0;
const started = Date.now();
const deadline = started + durationS * 1000;

function report(): void {
  const sorted = (r: Record<string, number>) => Object.fromEntries(Object.entries(r).sort((a, b) => b[1] - a[1]));
  console.log(`\nfuzz totals after ${((Date.now() - started) / 1000).toFixed(0)} s: ${seeds} seeds, ${tally.frames} frames sent, ${failures.length} failures`);
  console.log(`frames per api: ${JSON.stringify(sorted(tally.apis))}`);
  console.log(`outcomes: ${JSON.stringify(sorted(tally.outcomes))}`);
  for (const f of failures) console.log(`FAILED seed ${f.seed} (replay: npm run fuzz -- --seed ${f.seed} --runs ${runs}; data dir ${f.dataDir})`);
}

let current: BrokerHandle | undefined;
process.on('SIGINT', () => {
  current?.proc.kill('SIGKILL');
  report();
  process.exit(failures.length > 0 ? 1 : 130);
});

function firstLines(s: string, n = 40): string {
  const lines = s.split('\n');
  return lines.length > n ? `${lines.slice(0, n).join('\n')}\n...` : s;
}

async function runSeed(seed: number): Promise<void> {
  const broker = await startBroker({ args: FUZZ_BROKER_ARGS, keepDataDir: true });
  current = broker;
  let session: FuzzSession | undefined;
  let failure: string | undefined;
  try {
    session = await setUpFuzzBroker(broker);
    const s = session;
    const details = await fc.check(fc.asyncProperty(CASES, (input) => runCase(s, input, tally)), {
      seed, numRuns: runs, endOnFailure: true,
      // Random seeds stop at the deadline (an interrupted seed is not a failure); a replay runs whole.
      ...(replay === undefined ? { interruptAfterTimeLimit: Math.max(1, deadline - Date.now()) } : {}),
    });
    // fast-check reports a seed the deadline interrupted before its first frame as failed,
    // with no error: that is the clock, not the broker (seen at the end of a 300 s run).
    if (details.failed && details.interrupted && (details.errorInstance === null || details.errorInstance === undefined)) {
      checkStrays(s);
    } else if (details.failed) {
      const err = details.errorInstance;
      failure = `frame ${details.numRuns} of the seed: ${err instanceof Error ? err.message : String(err)}`;
    } else {
      checkStrays(s);
      await checkAfterFuzz(s, HEALTH_TIMEOUT_MS);
    }
  } catch (err) {
    failure = err instanceof Error ? err.message : String(err);
  } finally {
    if (session) closeFuzzSession(session);
    await broker.stop();
    current = undefined;
  }
  seeds++;
  if (failure === undefined) {
    rmSync(broker.dataDir, { recursive: true, force: true });
    return;
  }
  failures.push({ seed, message: failure, dataDir: broker.dataDir });
  console.log(`\nFAILED seed ${seed}: ${firstLines(failure)}\nreplay: npm run fuzz -- --seed ${seed} --runs ${runs}\nbroker log (tail):\n${broker.logs().slice(-2000)}`);
}

if (replay !== undefined) {
  console.log(`fuzz: replaying seed ${replay}, ${runs} frames`);
  await runSeed(replay);
} else {
  console.log(`fuzz: random seeds for ${durationS} s, ${runs} frames per seed`);
  while (Date.now() < deadline) {
    const seed = randomInt(2 ** 31 - 1);
    await runSeed(seed);
    process.stdout.write(`seed ${seed} done (${seeds} seeds, ${tally.frames} frames, ${failures.length} failures)\n`);
  }
}
report();
process.exit(failures.length > 0 ? 1 : 0);
