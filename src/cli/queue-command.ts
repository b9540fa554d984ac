/**
 * `sluice queue consume TOPIC --group G`: work a topic as a queue (share group): print each
 * job, ack it once printed. Any number of these may run side by side on the same group.
 * `sluice queue describe [G]`: per share group available / in flight / acked /
 * dead-lettered counts and the oldest unacked age; all groups without G.
 * `sluice queue delete G`: forget a share group that has no workers.
 * `sluice queue reset-offsets G --topic T --to-...`: move where a share group (with no
 * workers) reads a topic.
 * `sluice queue cancel G --topic T (--partition P --offset O... | --key K [--partition P])`:
 * cancel jobs (never delivered; a worker holding one sees its signal aborted).
 * `sluice queue alter G --rate N --max-in-flight N`: change a group's limits (and other
 * settings) while it runs.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { QueueAdmin, type ShareGroupDescription, type ShareResetTo } from '../client/queue-admin.js';
import { QueueConsumer } from '../client/queue-consumer.js';
import type { Job } from '../client/queue-job.js';
import type { ShareGroupSettings } from '../protocol/api.js';
import { brokerOption, intOption } from './broker-url.js';
import { OutputClosedError, table, writeOut } from './format.js';
import { untilStopSignal } from './stop-signal.js';
import { stderrLogger } from './stderr-logger.js';
import { addResetTargetOptions, resetTarget, type ResetTargetOpts } from './reset-options.js';
import { clientSecurity } from './client-security.js';
import { SHARE_CONFIG_RANGES } from '../queue/share-config.js';

interface ConsumeOpts extends SettingFlags {
  broker: string[];
  group: string;
  concurrency: number;
  maxMessages?: number;
  format: 'text' | 'json';
  drainTimeout: number;
}

/** `--max-window`: the range is the group setting's own (SHARE_CONFIG_RANGES), checked before anything is sent. */
const maxWindowOption = () => intOption('--max-window', SHARE_CONFIG_RANGES.maxWindow[0], SHARE_CONFIG_RANGES.maxWindow[1]);
const MAX_WINDOW_HELP = 'records tracked per partition past the group\'s position: how far it reads past a job in flight or delayed';

/** The share-group setting flags `queue consume` (at creation) and `queue alter` take. */
interface SettingFlags {
  visibilityTimeout?: number;
  maxDeliveries?: number;
  deadLetterTopic?: string;
  rate?: number;
  maxInFlight?: number;
  maxWindow?: number;
}

/** The settings the flags name; the ones not given are left out (the group's stand). */
function settingsOf(o: SettingFlags): ShareGroupSettings {
  const settings: ShareGroupSettings = {};
  if (o.visibilityTimeout !== undefined) settings.visibilityTimeoutMs = o.visibilityTimeout;
  if (o.maxDeliveries !== undefined) settings.maxDeliveries = o.maxDeliveries;
  if (o.deadLetterTopic !== undefined) settings.deadLetterTopic = o.deadLetterTopic;
  if (o.rate !== undefined) settings.rateLimit = o.rate;
  if (o.maxInFlight !== undefined) settings.maxInFlight = o.maxInFlight;
  if (o.maxWindow !== undefined) settings.maxWindow = o.maxWindow;
  return settings;
}

function limit(n: number, unit: string): string {
  return n > 0 ? `${n}${unit}` : 'none';
}

function jobJson(j: Job): string {
  return JSON.stringify({
    topic: j.topic, partition: j.partition, offset: j.offset, deliveryCount: j.deliveryCount,
    timestamp: new Date(j.timestamp).toISOString(),
    key: j.key ? j.key.toString('utf8') : null,
    value: j.value ? j.value.toString('utf8') : null,
    ...(j.headers.length ? { headers: Object.fromEntries(j.headers.map((h) => [h.key, h.value ? h.value.toString('utf8') : null])) } : {}),
  });
}

function age(ms: number): string {
  if (ms <= 0) return '-';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}

export function registerQueueCommand(program: Command): void {
  const queue = program.command('queue').description('work topics as queues (share groups: any number of workers, per-record acks)');

  queue
    .command('consume')
    .description('take jobs from a topic as a worker of a share group; print each and ack it')
    .argument('<topic>', 'topic to work')
    .requiredOption('-g, --group <group>', 'share group (workers of one group split the jobs)')
    .option('-c, --concurrency <n>', 'jobs held at once (prefetch)', intOption('--concurrency', 1), 10)
    .option('-n, --max-messages <n>', 'exit after acking this many jobs (and never hold more than are left)', intOption('--max-messages', 1))
    .option('--visibility-timeout <ms>', 'lock time of a job (set when this creates the group; refused if it has another: queue alter)', intOption('--visibility-timeout', 1))
    .option('--max-deliveries <n>', 'attempts before the DLQ (set when this creates the group; refused if it has another: queue alter)', intOption('--max-deliveries', 1))
    .option('--dead-letter-topic <topic>', 'DLQ topic (set when this creates the group, default <topic>.dlq; refused if it has another)')
    .option('--drain-timeout <ms>', 'on SIGTERM/Ctrl-C, wait this long for the job being printed to be acked', intOption('--drain-timeout', 0), 30_000)
    .option('--rate <n>', 'jobs handed out per second across the whole group, 0 = no limit (set when this creates the group; refused if it has another: queue alter)', intOption('--rate'))
    .option('--max-in-flight <n>', 'jobs held at once by the whole group, 0 = no limit (set when this creates the group; refused if it has another: queue alter)', intOption('--max-in-flight'))
    .option('--max-window <n>', `${MAX_WINDOW_HELP} (set when this creates the group; refused if it has another: queue alter)`, maxWindowOption())
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .addOption(brokerOption())
    .addHelpText('after', '\nSIGTERM or Ctrl-C drains: no more jobs are taken, the one being printed is acked, the jobs not yet printed go back\nto the queue at once (not counted as attempts), the worker leaves the group and the command exits with 0 (1 when --drain-timeout ran out first).\n\nExamples:\n  sluice queue consume emails --group mailer\n  sluice queue consume emails --group mailer --max-messages 100 --format json')
    .action(async (topic: string, o: ConsumeOpts) => {
      // Setting flags that differ from an existing group's are refused by the broker at this
      // worker's first acquire, before it takes a job (INCONSISTENT_GROUP_PROTOCOL, naming both
      // values and the `queue alter` that changes them): the loop below throws it, exit 1.
      const settings = settingsOf(o);
      // maxMessages: a worker that will stop after N jobs must not hold (and, on exit, give
      // back) more than N.
      const q = new QueueConsumer({ ...clientSecurity(), brokers: o.broker, groupId: o.group, topics: topic, concurrency: o.concurrency, ...(o.maxMessages !== undefined && { maxMessages: o.maxMessages }), settings, logger: stderrLogger('sluice queue') });
      const fmt = o.format === 'json' ? jobJson : (j: Job) => (j.value ? j.value.toString('utf8') : '');
      const max = o.maxMessages ?? Infinity;
      let count = 0;
      await untilStopSignal(() => q.close({ drain: true, timeoutMs: o.drainTimeout }), async () => {
        try {
          await q.conn.connect();
          for await (const job of q) {
            try {
              await writeOut(fmt(job) + '\n');
            } catch (err) {
              // Its line reached no one (the reader left): give it back, not as an attempt.
              if (err instanceof OutputClosedError) await job.release({ kind: 'unstarted' });
              throw err;
            }
            await job.ack();
            if (++count >= max) break;
          }
        } finally {
          await q.close();
        }
      }, { graceful: true });
      // A drain cut short by --drain-timeout released the job being printed as a failed
      // attempt: not the clean end exit 0 promises.
      if (q.drainLeftRunning > 0) {
        process.stderr.write(`sluice queue consume: the drain timed out after ${o.drainTimeout} ms with ${q.drainLeftRunning} job(s) unfinished; they were released\n`);
        process.exitCode = 1;
      }
    });

  queue
    .command('list')
    .description('the share groups, one id a line (in a cluster: every broker\'s)')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .addOption(brokerOption())
    .action(async (o: { broker: string[]; format: 'text' | 'json' }) => {
      const admin = new QueueAdmin({ brokers: o.broker });
      try {
        await admin.conn.connect();
        const ids = await admin.listGroups();
        await writeOut(o.format === 'json' ? JSON.stringify(ids) + '\n' : ids.map((id) => id + '\n').join(''));
      } finally {
        await admin.close();
      }
    });

  queue
    .command('describe')
    .description('counts of a share group (all groups when none is named)')
    .argument('[group]', 'share group')
    .option('--jobs [n]', 'also list the jobs in flight (at most n, default 100): holder, since, deliveries, last progress', intOption('--jobs', 1))
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .addOption(brokerOption())
    .action(async (group: string | undefined, o: { broker: string[]; format: 'text' | 'json'; jobs?: number | true }) => {
      const admin = new QueueAdmin({ ...clientSecurity(), brokers: o.broker });
      const jobs = o.jobs === undefined ? undefined : o.jobs === true ? 100 : o.jobs;
      try {
        await admin.conn.connect();
        const ids = group ? [group] : await admin.listGroups();
        const groups: ShareGroupDescription[] = [];
        for (const id of ids) groups.push(await admin.describeGroup(id, jobs !== undefined ? { jobs } : {}));
        if (o.format === 'json') {
          await writeOut(JSON.stringify(group ? groups[0] : groups, null, 2) + '\n');
          return;
        }
        if (groups.length === 0) {
          await writeOut('no share groups\n');
          return;
        }
        if (group) {
          const c = groups[0].coordinator;
          const st = groups[0].settings;
          await writeOut(`COORDINATOR  ${c === undefined || c < 0 ? 'this broker (single node)' : `broker ${c}`}\n`);
          await writeOut(`LIMITS       rate ${limit(st.rateLimit, '/s')}, max in flight ${limit(st.maxInFlight, '')}\n`);
          await writeOut(`WINDOW       ${st.maxWindow} records per partition (max window)\n\n`);
        }
        await writeOut(table(
          ['GROUP', 'AVAILABLE', 'DELAYED', 'IN FLIGHT', 'ACKED', 'DEAD-LETTERED', 'CANCELLED', 'REDELIVERIES', 'WORKERS', 'OLDEST UNACKED'],
          groups.map((d) => [d.groupId, d.available, d.delayed, d.inFlight, d.acked, d.deadLettered, d.cancelled ?? 0, d.redeliveries, d.workers.length, age(d.oldestUnackedMs)]),
        ));
        for (const d of groups) {
          if (!d.jobs) continue;
          const now = Date.now();
          await writeOut(`\nJOBS IN FLIGHT (${d.groupId})\n` + (d.jobs.length === 0 ? 'none\n' : table(
            ['TOPIC', 'PARTITION', 'OFFSET', 'WORKER', 'SINCE', 'DELIVERIES', 'PROGRESS', 'PROGRESS AT'],
            d.jobs.map((j) => [j.topic, j.partition, j.offset, j.workerId, `${age(now - j.since)} ago`, j.deliveryCount, j.progress ?? '-', j.progressAt ? `${age(now - j.progressAt)} ago` : '-']),
          )));
        }
        if (group) {
          const d = groups[0];
          if (d.partitions.length) {
            await writeOut('\n' + table(['TOPIC', 'PARTITION', 'START', 'END', 'AVAILABLE', 'IN FLIGHT', 'BACKLOG'],
              d.partitions.map((p) => [p.topic, p.partition, p.startOffset, p.endOffset, p.available, p.inFlight, p.backlog])));
          }
          if (d.workers.length) {
            await writeOut('\n' + table(['WORKER', 'IN FLIGHT', 'ACQUIRED', 'LAST SEEN'],
              d.workers.map((w) => [w.workerId, w.inFlight, w.acquired ?? 0, age(w.lastSeenMsAgo)])));
          }
        }
      } finally {
        await admin.close();
      }
    });

  queue
    .command('delete')
    .description('delete a share group and its per-record state (only while it has no workers)')
    .argument('<group>', 'share group')
    .addOption(brokerOption())
    .addHelpText('after', '\nThe next worker of that group starts a new group, from its startFrom setting.')
    .action(async (group: string, o: { broker: string[] }) => {
      const admin = new QueueAdmin({ ...clientSecurity(), brokers: o.broker });
      try {
        await admin.deleteGroup(group);
      } finally {
        await admin.close();
      }
      process.stderr.write(`deleted share group '${group}'\n`);
    });

  queue
    .command('alter')
    .description("change a share group's settings while it runs: its group-wide limits (rate, jobs held at once) and lock time")
    .argument('<group>', 'share group')
    .option('--rate <n>', 'jobs handed out per second across all workers; 0 = no limit', intOption('--rate'))
    .option('--max-in-flight <n>', 'jobs held at once by all workers together; 0 = no limit', intOption('--max-in-flight'))
    .option('--visibility-timeout <ms>', 'lock time of a job acquired from now on', intOption('--visibility-timeout', 1))
    .option('--max-deliveries <n>', 'attempts before the DLQ', intOption('--max-deliveries', 1))
    .option('--max-window <n>', MAX_WINDOW_HELP, maxWindowOption())
    .addOption(brokerOption())
    .addHelpText('after', '\nExamples:\n  sluice queue alter mailer --rate 50 --max-in-flight 10\n  sluice queue alter mailer --rate 0     # lift the rate limit\n  sluice queue alter mailer --max-window 100000   # read further past long-delayed jobs')
    .action(async (group: string, o: { broker: string[] } & Omit<SettingFlags, 'deadLetterTopic'>) => {
      const settings = settingsOf(o);
      if (Object.keys(settings).length === 0) throw new InvalidArgumentError('name at least one setting to change (--rate, --max-in-flight, --visibility-timeout, --max-deliveries, --max-window)');
      const admin = new QueueAdmin({ ...clientSecurity(), brokers: o.broker });
      let after;
      try {
        after = await admin.alterGroup(group, settings);
      } finally {
        await admin.close();
      }
      process.stderr.write(`altered share group '${group}': rate ${limit(after.rateLimit, '/s')}, max in flight ${limit(after.maxInFlight, '')}, visibility timeout ${after.visibilityTimeoutMs} ms, max deliveries ${after.maxDeliveries}, max window ${after.maxWindow}\n`);
    });

  const reset = queue
    .command('reset-offsets')
    .description('move where a share group reads a topic; records from there on are delivered again (only while it has no workers)')
    .argument('<group>', 'share group')
    .requiredOption('--topic <topic>', 'topic whose partitions are reset')
    .option('--partition <n...>', 'only these partitions (default: all)', collectInts('--partition', 'a partition number'));
  addResetTargetOptions(reset, { shiftBy: false })
    .option('--dry-run', 'print the plan without changing anything')
    .addOption(brokerOption())
    .addHelpText('after', '\nExamples:\n  sluice queue reset-offsets emails --topic outbox --to-earliest --dry-run\n  sluice queue reset-offsets emails --topic outbox --to-datetime 2026-11-25T09:00:00Z')
    .action(async (group: string, o: ResetTargetOpts & { broker: string[]; topic: string; partition?: number[]; dryRun?: boolean }) => {
      const to = resetTarget(o, { shiftBy: false }) as ShareResetTo;
      const admin = new QueueAdmin({ ...clientSecurity(), brokers: o.broker });
      let plan;
      try {
        plan = await admin.resetOffsets(group, o.topic, to, { ...(o.partition && { partitions: o.partition }), dryRun: o.dryRun === true });
      } finally {
        await admin.close();
      }
      process.stdout.write(table(['TOPIC', 'PARTITION', 'FROM', 'TO'], plan.map((p) => [p.topic, p.partition, p.from < 0 ? '-' : p.from, p.to])));
      process.stderr.write(o.dryRun ? 'dry run: nothing changed\n' : `reset ${plan.length} partition(s) of share group '${group}'\n`);
    });

  registerCancel(queue);
}

interface CancelOpts {
  broker: string[];
  topic: string;
  partition?: number;
  offset?: number[];
  key?: string;
  format: 'text' | 'json';
}

function registerCancel(queue: Command): void {
  queue
    .command('cancel')
    .description('cancel jobs: one not yet taken is never delivered; a worker holding one is told (its handler\'s signal aborts) and it is archived as cancelled')
    .argument('<group>', 'share group')
    .requiredOption('--topic <topic>', 'topic of the jobs')
    .option('--partition <n>', 'partition (required with --offset)', intOption('--partition', 0))
    .option('--offset <n...>', 'offsets of the jobs to cancel', collectInts('--offset', 'an offset'))
    .option('--key <key>', 'cancel every job with this key (utf-8) not yet settled')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .addOption(brokerOption())
    .addHelpText('after', '\nExits 1 when an offset named could not be cancelled (already settled, no such record).\n\nExamples:\n  sluice queue cancel mailer --topic emails --partition 0 --offset 42\n  sluice queue cancel mailer --topic emails --key user-17')
    .action(async (group: string, o: CancelOpts) => {
      if ((o.offset === undefined) === (o.key === undefined)) throw new InvalidArgumentError('give either --offset (with --partition) or --key');
      if (o.offset && o.partition === undefined) throw new InvalidArgumentError('--offset needs --partition');
      const admin = new QueueAdmin({ ...clientSecurity(), brokers: o.broker });
      let res;
      try {
        res = await admin.cancel(group, o.topic, o.offset ? { partition: o.partition!, offsets: o.offset } : { key: o.key!, ...(o.partition !== undefined && { partition: o.partition }) });
      } finally {
        await admin.close();
      }
      if (o.format === 'json') await writeOut(JSON.stringify(res, null, 2) + '\n');
      else {
        const rows: (string | number)[][] = [];
        for (const p of res) {
          if (p.error) rows.push([p.topic, p.partition, '-', 'error', p.error.message]);
          for (const c of p.cancelled) rows.push([p.topic, p.partition, c.offset, 'cancelled', c.workerId ? `held by ${c.workerId}` : 'not taken']);
          for (const k of p.skipped) rows.push([p.topic, p.partition, k.offset, 'skipped', k.reason]);
        }
        await writeOut(rows.length ? table(['TOPIC', 'PARTITION', 'OFFSET', 'RESULT', 'DETAIL'], rows) : 'nothing to cancel\n');
      }
      const n = res.reduce((s, p) => s + p.cancelled.length, 0);
      process.stderr.write(`cancelled ${n} job(s) of share group '${group}'\n`);
      if (res.some((p) => p.error) || (o.offset && res.some((p) => p.skipped.length > 0))) process.exitCode = 1;
    });
}

/** A repeatable integer option (`--partition 0 --partition 2`, `--offset 5 7`), named in its error. */
function collectInts(flag: string, what: string): (v: string, prev?: number[]) => number[] {
  return (v, prev = []) => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`${flag} must be ${what}, not '${v}'`);
    return [...prev, n];
  };
}
