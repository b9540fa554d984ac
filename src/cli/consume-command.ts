/**
 * `sluice consume TOPIC`: print messages, one per line (value as UTF-8) or as JSON lines.
 * Starts at the end of each partition (new messages only) unless --from-beginning,
 * --offset or --from-time says otherwise; follows new messages until Ctrl-C, or stops
 * after --max-messages, or at the end seen at start with --until-end.
 *
 * With --group G it joins consumer group G instead: the group decides which partitions
 * this process reads, it starts at the group's committed offsets (--from-beginning picks
 * the earliest, else the latest, where the group has none) and commits as it goes, and
 * Ctrl-C commits and leaves the group at once.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { Admin } from '../client/admin.js';
import { Consumer, type SeekTarget } from '../client/consumer.js';
import { InvalidArgumentError as ClientArgError } from '../client/errors.js';
import type { Message, TopicPartition } from '../client/types.js';
import { brokerOption, intOption } from './broker-url.js';
import { writeOut } from './format.js';

interface ConsumeOpts {
  broker: string;
  fromBeginning?: boolean;
  offset?: number;
  fromTime?: number;
  partition?: number;
  maxMessages?: number;
  format: 'text' | 'json';
  untilEnd?: boolean;
  group?: string;
}

function parseTime(v: string): number {
  const t = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(t)) throw new InvalidArgumentError(`--from-time takes an ISO date (2024-05-01T12:00:00Z) or ms since epoch, not '${v}'`);
  return t;
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
    .option('-g, --group <group>', 'join this consumer group (partitions and start offsets come from the group)')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .addOption(brokerOption())
    .addHelpText('after', '\nExamples:\n  sluice consume events --from-beginning --max-messages 10\n  sluice consume events --from-time 2024-05-01T00:00:00Z --until-end --format json')
    .action(async (topic: string, o: ConsumeOpts) => {
      const starts = [o.fromBeginning, o.offset !== undefined, o.fromTime !== undefined].filter(Boolean).length;
      if (starts > 1) throw new ClientArgError('use only one of --from-beginning, --offset and --from-time');
      if (o.group !== undefined) {
        if (o.offset !== undefined || o.fromTime !== undefined || o.partition !== undefined || o.untilEnd) {
          throw new ClientArgError('--group cannot be combined with --offset, --from-time, --partition or --until-end');
        }
        return consumeInGroup(topic, o);
      }
      const consumer = new Consumer({ url: o.broker, autoOffsetReset: 'earliest' });
      let stopping = false;
      const onSignal = () => {
        stopping = true;
        void consumer.close();
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        await consumer.connect();
        if (o.partition !== undefined) await consumer.assign([{ topic, partition: o.partition }]);
        else await consumer.assign(topic);
        const tps = consumer.assignment();
        const target: SeekTarget = o.fromBeginning ? 'earliest'
          : o.offset !== undefined ? o.offset
          : o.fromTime !== undefined ? { timestamp: o.fromTime }
          : 'latest';
        for (const tp of tps) consumer.seek(tp, target);

        // --until-end: the log end per partition now; partitions already there are done.
        let remaining: Map<number, number> | null = null;
        if (o.untilEnd) {
          remaining = await endOffsets(consumer, tps, o.broker);
          const startAt = await startOffsets(tps, target, o.broker);
          for (const [p, end] of [...remaining]) if ((startAt.get(p) ?? 0) >= end) remaining.delete(p);
          if (remaining.size === 0) return;
        }

        let count = 0;
        const max = o.maxMessages ?? Infinity;
        const fmt = o.format === 'json' ? toJson : (m: Message) => (m.value ? m.value.toString('utf8') : '');
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
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await consumer.close();
      }
    });
}

async function consumeInGroup(topic: string, o: ConsumeOpts): Promise<void> {
  const consumer = new Consumer({ url: o.broker, groupId: o.group, topics: [topic], autoOffsetReset: o.fromBeginning ? 'earliest' : 'latest' });
  const onSignal = () => void consumer.close();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let count = 0;
  const max = o.maxMessages ?? Infinity;
  const fmt = o.format === 'json' ? toJson : (m: Message) => (m.value ? m.value.toString('utf8') : '');
  try {
    await consumer.connect();
    await consumer.run({
      eachMessage: async (m) => {
        await writeOut(fmt(m) + '\n');
        if (++count >= max) await consumer.close();
      },
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await consumer.close();
  }
}

async function endOffsets(_c: Consumer, tps: TopicPartition[], url: string): Promise<Map<number, number>> {
  const admin = new Admin({ url });
  try {
    const offs = await admin.listOffsets(tps, 'latest');
    return new Map(offs.map((x) => [x.partition, x.offset]));
  } finally {
    await admin.close();
  }
}

async function startOffsets(tps: TopicPartition[], target: SeekTarget, url: string): Promise<Map<number, number>> {
  if (typeof target === 'number') return new Map(tps.map((tp) => [tp.partition, target]));
  const admin = new Admin({ url });
  try {
    const spec = target === 'earliest' || target === 'latest' ? target : { timestamp: (target as { timestamp: number }).timestamp };
    const offs = await admin.listOffsets(tps, spec);
    return new Map(offs.map((x) => [x.partition, x.offset]));
  } finally {
    await admin.close();
  }
}
