/**
 * `sluice consume TOPIC`: print messages, one per line (value as UTF-8) or as JSON lines.
 * Starts at the end of each partition (new messages only) unless --from-beginning,
 * --offset or --from-time says otherwise; follows new messages until Ctrl-C, or stops
 * after --max-messages, or at the end seen at start with --until-end.
 *
 * --offset past the end of a selected partition is an error naming the log's range (not a
 * silent replay from the start); below the log start it starts at the log start.
 *
 * With --group G it joins consumer group G instead: the group decides which partitions
 * this process reads, it starts at the group's committed offsets (--from-beginning picks
 * the earliest, else the latest, where the group has none) and commits as it goes, and
 * Ctrl-C commits and leaves the group at once. Ctrl-C exits 130 (stop-signal.ts).
 *
 * Text output is the value; --print-partition, --print-offset and --print-key put
 * `Partition:P`, `Offset:N` and the key before it, tab-separated, in that order (as
 * kafka-console-consumer's print.partition / print.offset / print.key do).
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { Admin } from '../client/admin.js';
import { Consumer, type SeekTarget } from '../client/consumer.js';
import { InvalidArgumentError as ClientArgError } from '../client/errors.js';
import type { Message, TopicPartition } from '../client/types.js';
import { brokerOption, intOption } from './broker-url.js';
import { writeOut } from './format.js';
import { untilStopSignal } from './stop-signal.js';
import { stderrLogger } from './stderr-logger.js';
import { clientSecurity } from './client-security.js';

interface ConsumeOpts {
  broker: string[];
  fromBeginning?: boolean;
  offset?: number;
  fromTime?: number;
  partition?: number;
  maxMessages?: number;
  format: 'text' | 'json';
  untilEnd?: boolean;
  group?: string;
  printKey?: boolean;
  printPartition?: boolean;
  printOffset?: boolean;
}

/** The flags --group cannot be combined with: the group chooses partitions and start offsets. */
const NOT_WITH_GROUP = '--offset, --from-time, --partition, --until-end';

function parseTime(v: string): number {
  const t = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(t)) throw new InvalidArgumentError(`--from-time takes an ISO date (2024-05-01T12:00:00Z) or ms since epoch, not '${v}'`);
  return t;
}

function textFormat(o: ConsumeOpts): (m: Message) => string {
  const value = (m: Message) => (m.value ? m.value.toString('utf8') : '');
  if (!o.printKey && !o.printPartition && !o.printOffset) return value;
  return (m) => {
    let line = '';
    if (o.printPartition) line += `Partition:${m.partition}\t`;
    if (o.printOffset) line += `Offset:${m.offset}\t`;
    if (o.printKey) line += `${m.key ? m.key.toString('utf8') : 'null'}\t`;
    return line + value(m);
  };
}

function toJson(m: Message): string {
  return JSON.stringify({
    topic: m.topic,
    partition: m.partition,
    offset: m.offset,
    timestamp: new Date(m.timestamp).toISOString(),
    key: m.key ? m.key.toString('utf8') : null,
    value: m.value ? m.value.toString('utf8') : null,
    ...(m.headers.length ? { headers: Object.fromEntries(m.headers.map((h) => [h.key, h.value ? h.value.toString('utf8') : null])) } : {}),
  });
}

export function registerConsumeCommand(program: Command): void {
  program
    .command('consume')
    .description('print messages of a topic, following new ones until Ctrl-C')
    .argument('<topic>', 'topic to read')
    .option('--from-beginning', 'start at the oldest retained message')
    .option('-o, --offset <n>', 'start at this offset (in every selected partition)', intOption('--offset'))
    .option('-t, --from-time <time>', 'start at the first message at or after this time (ISO 8601 or ms)', parseTime)
    .option('-p, --partition <p>', 'read only this partition', intOption('--partition'))
    .option('-n, --max-messages <n>', 'exit after this many messages', intOption('--max-messages', 1))
    .option('--until-end', 'exit at the end of the log as it was at start')
    .option('-g, --group <group>', `join this consumer group (partitions and start offsets come from the group; not with ${NOT_WITH_GROUP})`)
    .option('--print-key', 'text format: print the key (null if none) before the value')
    .option('--print-partition', 'text format: print Partition:P before the value')
    .option('--print-offset', 'text format: print Offset:N before the value')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .addOption(brokerOption())
    .addHelpText('after', [
      '',
      `--group takes --from-beginning (for partitions the group has no committed offset for) but not ${NOT_WITH_GROUP}.`,
      '--offset past the end of a partition is an error naming the range the log holds.',
      'Ctrl-C stops (with --group: commits and leaves the group) and exits with 130 (SIGTERM: 143).',
      '',
      'Examples:',
      '  sluice consume events --from-beginning --max-messages 10',
      '  sluice consume events --from-beginning --print-partition --print-offset --print-key',
      '  sluice consume events --from-time 2024-05-01T00:00:00Z --until-end --format json',
    ].join('\n'))
    .action(async (topic: string, o: ConsumeOpts) => {
      const starts = [o.fromBeginning, o.offset !== undefined, o.fromTime !== undefined].filter(Boolean).length;
      if (starts > 1) throw new ClientArgError('use only one of --from-beginning, --offset and --from-time');
      if (o.format === 'json' && (o.printKey || o.printPartition || o.printOffset)) {
        throw new ClientArgError('--print-key, --print-partition and --print-offset are for --format text (json lines carry them all)');
      }
      if (o.group !== undefined) {
        if (o.offset !== undefined || o.fromTime !== undefined || o.partition !== undefined || o.untilEnd) {
          throw new ClientArgError(`--group cannot be combined with ${NOT_WITH_GROUP}`);
        }
        return consumeInGroup(topic, o.group, o);
      }
      const consumer = new Consumer({ ...clientSecurity(), brokers: o.broker, autoOffsetReset: 'earliest', logger: stderrLogger('sluice consumer') });
      await untilStopSignal(() => consumer.close(), () => consumeAssigned(consumer, topic, o));
    });
}

async function consumeAssigned(consumer: Consumer, topic: string, o: ConsumeOpts): Promise<void> {
  try {
    await consumer.connect();
    if (o.partition !== undefined) await consumer.assign([{ topic, partition: o.partition }]);
    else await consumer.assign(topic);
    const tps = consumer.assignment();
    const target: SeekTarget = o.fromBeginning ? 'earliest'
      : o.offset !== undefined ? o.offset
      : o.fromTime !== undefined ? { timestamp: o.fromTime }
      : 'latest';
    let ends: Map<number, number> | null = null;
    if (o.offset !== undefined) {
      // The consumer would treat an offset past the end as out of range and start over at
      // the earliest (its autoOffsetReset): a silent replay. Refuse it, naming the range.
      ends = await endOffsets(tps, o.broker);
      const past = tps.filter((tp) => o.offset! > ends!.get(tp.partition)!);
      if (past.length > 0) {
        const starts = await startOffsets(tps, 'earliest', o.broker);
        const ranges = past.map((tp) => {
          const [start, end] = [starts.get(tp.partition)!, ends!.get(tp.partition)!];
          return `${tp.topic}/${tp.partition} holds ${start < end ? `offsets ${start}..${end - 1}` : 'no messages'} (next offset ${end})`;
        });
        throw new ClientArgError(`--offset ${o.offset} is past the end of the log: ${ranges.join('; ')}`);
      }
    }
    for (const tp of tps) consumer.seek(tp, target);

    // --until-end: the log end per partition now; partitions already there are done.
    let remaining: Map<number, number> | null = null;
    if (o.untilEnd) {
      remaining = ends ?? await endOffsets(tps, o.broker);
      const startAt = await startOffsets(tps, target, o.broker);
      for (const [p, end] of [...remaining]) if ((startAt.get(p) ?? 0) >= end) remaining.delete(p);
      if (remaining.size === 0) return;
    }

    let count = 0;
    const max = o.maxMessages ?? Infinity;
    const fmt = o.format === 'json' ? toJson : textFormat(o);
    await consumer.run({
      eachBatch: async ({ partition, messages }) => {
        let out = '';
        for (const m of messages) {
          if (remaining) {
            const end = remaining.get(partition);
            if (end === undefined || m.offset >= end) continue;
            if (m.offset + 1 >= end) remaining.delete(partition);
          }
          out += fmt(m) + '\n';
          if (++count >= max) break;
        }
        if (out) await writeOut(out);
        if (count >= max || (remaining && remaining.size === 0)) await consumer.close();
      },
    });
  } finally {
    await consumer.close();
  }
}

async function consumeInGroup(topic: string, group: string, o: ConsumeOpts): Promise<void> {
  const consumer = new Consumer({
    ...clientSecurity(),
    brokers: o.broker, groupId: group, topics: [topic], autoOffsetReset: o.fromBeginning ? 'earliest' : 'latest', logger: stderrLogger('sluice consumer'),
  });
  let count = 0;
  const max = o.maxMessages ?? Infinity;
  const fmt = o.format === 'json' ? toJson : textFormat(o);
  await untilStopSignal(() => consumer.close(), async () => {
    try {
      await consumer.connect();
      await consumer.run({
        eachMessage: async (m) => {
          await writeOut(fmt(m) + '\n');
          if (++count >= max) await consumer.close();
        },
      });
    } finally {
      await consumer.close();
    }
  });
}

async function endOffsets(tps: TopicPartition[], brokers: readonly string[]): Promise<Map<number, number>> {
  const admin = new Admin({ ...clientSecurity(), brokers });
  try {
    const offs = await admin.listOffsets(tps, 'latest');
    return new Map(offs.map((x) => [x.partition, x.offset]));
  } finally {
    await admin.close();
  }
}

async function startOffsets(tps: TopicPartition[], target: SeekTarget, brokers: readonly string[]): Promise<Map<number, number>> {
  if (typeof target === 'number') return new Map(tps.map((tp) => [tp.partition, target]));
  const admin = new Admin({ ...clientSecurity(), brokers });
  try {
    const spec = target === 'earliest' || target === 'latest' ? target : { timestamp: (target as { timestamp: number }).timestamp };
    const offs = await admin.listOffsets(tps, spec);
    return new Map(offs.map((x) => [x.partition, x.offset]));
  } finally {
    await admin.close();
  }
}
