// Runs one work-queue script (this folder's or ../shared/peers') COUNT times in this one process, one run after the
// other: `node repeat-runs.mjs SCRIPT COUNT`. bench/workqueue.ts uses it so that a peer's client, like Sluice's
// workers in bench/queue.ts, is one process for all of a system's runs: the first run is the cold one (a fresh
// process and a fresh server) and the later ones run on a warm JIT. Each import of `SCRIPT?run=N` evaluates the
// script again as a new module instance (the clients it imports stay loaded, which is the point); each run prints
// its own JSON line. A script is re-runnable when its queue or stream names are unique per run, it closes every
// connection it opened and it never calls process.exit. A module instance is never unloaded: what a script keeps
// at its top level (its 4 MB of payloads, closed clients) stays allocated until this process exits.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [script, countArg] = process.argv.slice(2);
const count = Number(countArg);
if (!script || !Number.isInteger(count) || count < 1) {
  console.error(`usage: node repeat-runs.mjs SCRIPT COUNT (COUNT a whole number >= 1; got ${JSON.stringify(process.argv.slice(2))})`);
  process.exitCode = 2;
} else {
  const url = pathToFileURL(resolve(script)).href;
  for (let run = 1; run <= count; run++) await import(`${url}?run=${run}`);
}
