/**
 * The long-poll cycle in one process, without sockets: a Fetch parks at the log end, a
 * Produce of one record wakes it, the Fetch answers. Measures that cycle (park, wake, re-read,
 * answer) between source roots, interleaved, so a change to the delayed-operation path
 * (src/broker/purgatory.ts) can be compared before and after on a loaded machine, where the
 * e2e latency of `sluice bench e2e` mostly measures the machine's stalls:
 *   node --import tsx bench/long-poll.ts before=/work/wt/before after=. [-n 20000] [--waiters 50]
 * `--waiters` parks that many more fetches on other partitions, which every cycle must not
 * touch. Prints cycles/s and CPU µs per cycle per run and their medians (RUNS, default 3).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';

const argv = process.argv.slice(2);
const variants = argv.filter((a) => a.includes('=')).map((kv) => { const [name, p] = kv.split('='); return { name, root: resolve(p) }; });
const opt = (name: string, dflt: number) => { const i = argv.indexOf(name); return i >= 0 ? Number(argv[i + 1]) : dflt; };
const N = opt('-n', 20_000);
const WAITERS = opt('--waiters', 50);
const RUNS = Number(process.env.RUNS ?? 3);

type Row = { cyclesPerSec: number; cpuUsPerCycle: number; readsPerCycle: number };

async function run(root: string): Promise<Row> {
  const imp = (p: string) => import(join(root, 'src', p));
  const { openLogManager } = await imp('storage/log-manager.ts');
  const { loadConfig } = await imp('config/load-config.ts');
  const { createLogger } = await imp('broker/logger.ts');
  const { NoopBrokerMetrics } = await imp('metrics/noop-broker-metrics.ts');
  const { ReadBufferPool } = await imp('storage/read-buffer-pool.ts');
  const { BrokerBudget } = await imp('broker/output-budget.ts');
  const { handleProduce } = await imp('broker/handle-produce.ts');
  const { handleFetch } = await imp('broker/handle-fetch.ts');
  const { encodeBatch } = await imp('record/index.ts');
  // The tree before the purgatory had FetchWaiters in ctx.waiters; after, a Purgatory in ctx.delayed.
  const ctxMod = await imp('broker/context.ts');
  const parked = ctxMod.DELAYED_KINDS
    ? { delayed: new (await imp('broker/purgatory.ts')).Purgatory(ctxMod.DELAYED_KINDS) }
    : { waiters: new (await imp('broker/fetch-waiters.ts')).FetchWaiters() };

  const dir = await mkdtemp(join(tmpdir(), 'sluice-lp-'));
  const logs = await openLogManager(dir, { flushMs: -1 }, { retentionCheckMs: 0 });
  try {
    const ctx = {
      config: loadConfig({ env: {} }).config, logs, readPool: new ReadBufferPool(), output: new BrokerBudget(1 << 30), ...parked,
      log: createLogger('error', () => {}), version: 'bench', metrics: new NoopBrokerMetrics(), groups: undefined, accepting: true,
    };
    await logs.createTopic('lp', 1 + WAITERS);
    // Reads per cycle: 2 (the first read finds nothing, the woken re-read finds the record).
    const log0 = logs.log('lp', 0);
    const read0 = log0.read.bind(log0);
    let reads = 0;
    log0.read = (...a: unknown[]) => { reads++; return read0(...a); };
    const batch = encodeBatch([{ value: Buffer.alloc(100, 1) }]);
    const fetchAt = (partition: number, offset: number, id: number) => handleFetch(ctx, {
      api: 1, id, maxWaitMs: 60_000, minBytes: 1, maxBytes: 1 << 20, partitions: [{ topic: 'lp', partition, offset, maxBytes: 1 << 20 }],
    });
    // Bystanders: parked on other partitions for the whole run, answered at the end.
    const others = Array.from({ length: WAITERS }, (_, i) => fetchAt(i + 1, 0, -1 - i));
    const produce = (id: number) => handleProduce(ctx, { api: 0, id, acks: 1, partitions: [{ topic: 'lp', partition: 0, records: batch }] });
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < N; i++) {
      const answer = fetchAt(0, i, i);
      await new Promise((r) => setImmediate(r)); // let it read, find nothing and park
      await produce(i);
      const res = await answer;
      const records = res.partitions[0].records as Uint8Array;
      if (records.length === 0) throw new Error(`cycle ${i}: empty answer`);
      ctx.readPool.release(records);
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    ctx.accepting = false;
    ('delayed' in parked ? parked.delayed : parked.waiters).finishAll();
    await Promise.all(others);
    return { cyclesPerSec: Math.round(N / seconds), cpuUsPerCycle: Math.round(((cpu.user + cpu.system) / N) * 10) / 10, readsPerCycle: reads / N };
  } finally {
    await logs.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const results = new Map<string, Row[]>();
for (let r = 1; r <= RUNS; r++) {
  for (const v of r % 2 ? variants : [...variants].reverse()) { // ABBA order
    const row = await run(v.root);
    process.stderr.write(`${v.name} run ${r}: ${JSON.stringify(row)}\n`);
    if (!results.has(v.name)) results.set(v.name, []);
    results.get(v.name)!.push(row);
  }
}
for (const [name, rows] of results) {
  process.stdout.write(`${name}: ${JSON.stringify({ cyclesPerSec: median(rows.map((x) => x.cyclesPerSec)), cpuUsPerCycle: median(rows.map((x) => x.cpuUsPerCycle)), readsPerCycle: median(rows.map((x) => x.readsPerCycle)) })}\n`);
}
