/**
 * `sluice topic create|list|describe|verify|reassign|delete`: topic administration over the wire
 * (verify also offline, topic-verify.ts).
 * Tables go to stdout, confirmations and errors to stderr.
 */
import { Command, InvalidArgumentError } from 'commander';
import type { TopicConfig } from '../client/admin.js';
import { TOPIC_CONFIG_KEYS } from '../protocol/topic-config.js';
import { brokerOption, intOption } from './broker-url.js';
import { table } from './format.js';
import { withAdmin } from './with-admin.js';
import { verifyTopics } from './topic-verify.js';
import { formatTopicDescription } from './topic-describe.js';
import { waitForMoves } from './reassign-wait.js';

// The keys the broker's CreateTopics check accepts: one list, so a key added there (such as
// minInsyncReplicas for cluster mode) is accepted here too.
const CONFIG_KEYS: readonly (keyof TopicConfig)[] = TOPIC_CONFIG_KEYS;

/** Accepts retentionMs, retention-ms or retention.ms; values are integers. */
export function parseConfigEntry(entry: string, prev: TopicConfig = {}): TopicConfig {
  const eq = entry.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`--config takes key=value, not '${entry}'`);
  const raw = entry.slice(0, eq).trim();
  const key = raw.replace(/[-.]([a-z])/g, (_m, c: string) => c.toUpperCase()) as keyof TopicConfig;
  if (!CONFIG_KEYS.includes(key)) throw new InvalidArgumentError(`unknown topic config '${raw}' (known: ${CONFIG_KEYS.join(', ')})`);
  const value = entry.slice(eq + 1).trim();
  const n = Number(value);
  if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`config ${raw} must be an integer, not '${value}'`);
  return { ...prev, [key]: n };
}

/** `1,2,4` -> [1, 2, 4]; anything but whole node ids is refused naming it (repeats and unknown ids are the broker's to refuse). */
export function parseReplicaList(value: string): number[] {
  const parts = value.split(',').map((x) => x.trim()).filter((x) => x !== '');
  for (const x of parts) if (!/^\d+$/.test(x)) throw new InvalidArgumentError(`--replicas takes node ids separated by commas, not '${x}'`);
  return parts.map(Number);
}

export function registerTopicCommand(program: Command): void {
  const topic = program.command('topic').description('create, list, describe and delete topics');

  topic
    .command('create')
    .description('create a topic')
    .argument('<name>', 'topic name')
    .option('-p, --partitions <n>', 'number of partitions', intOption('--partitions', 1), 1)
    .option('-c, --config <key=value>', 'topic config, repeatable (e.g. retention.ms=86400000)', parseConfigEntry)
    .option('-r, --replication-factor <n>', 'cluster mode: replicas per partition (default min(3, live brokers); a single broker takes only 1)', intOption('--replication-factor', 1))
    .addOption(brokerOption())
    .action(async (name: string, o: { partitions: number; config?: TopicConfig; replicationFactor?: number; broker: string[] }) => {
      const options = o.replicationFactor !== undefined ? { replicationFactor: o.replicationFactor } : {};
      await withAdmin(o.broker, (a) => a.createTopic(name, o.partitions, o.config, options));
      const rf = o.replicationFactor !== undefined ? `, replication factor ${o.replicationFactor}` : '';
      process.stderr.write(`created topic '${name}' with ${o.partitions} partition${o.partitions === 1 ? '' : 's'}${rf}\n`);
    });

  topic
    .command('list')
    .description('list topics with their partition counts')
    .addOption(brokerOption())
    .action(async (o: { broker: string[] }) => {
      const topics = await withAdmin(o.broker, (a) => a.listTopics());
      process.stdout.write(table(['TOPIC', 'PARTITIONS'], topics.map((t) => [t.name, t.partitions])));
    });

  topic
    .command('describe')
    .description('show each partition of a topic: log start, high watermark, size, segments; in cluster mode also leader, epoch, replicas, ISR')
    .argument('<name>', 'topic name')
    .addOption(brokerOption())
    .action(async (name: string, o: { broker: string[] }) => {
      const d = await withAdmin(o.broker, (a) => a.describeTopic(name));
      process.stdout.write(formatTopicDescription(d));
    });

  topic
    .command('verify')
    .description('check every stored batch (CRC, length, offsets) of a topic, or of all topics; exit 2 if any is corrupt')
    .argument('[name]', 'topic name (default: every topic)')
    .option('--data-dir <dir>', 'check this data dir offline, without a broker (read-only; stop the broker first)')
    .addOption(brokerOption())
    .action(async (name: string | undefined, o: { dataDir?: string; broker: string[] }) => {
      await verifyTopics(name, o);
    });

  topic
    .command('reassign')
    .description('cluster mode: move a partition\'s replicas to other brokers (leadership leaves a removed broker first, new replicas catch up, the old ones are dropped), or --cancel a running move')
    .argument('<name>', 'topic name')
    .requiredOption('--partition <p>', 'the partition to move', intOption('--partition', 0))
    .option('--replicas <ids>', 'the target node ids, comma-separated, preferred leader first (e.g. 1,2,4)', parseReplicaList)
    .option('--cancel', 'cancel the running reassignment: back to the original replicas, the added ones delete their logs')
    .option('--wait', 'wait until the move is done')
    .option('--timeout-ms <ms>', 'with --wait: give up after this long', intOption('--timeout-ms', 1), 3_600_000)
    .addOption(brokerOption())
    .action(async (name: string, o: { partition: number; replicas?: number[]; cancel?: boolean; wait?: boolean; timeoutMs: number; broker: string[] }) => {
      if ((o.replicas === undefined) === (o.cancel !== true)) throw new InvalidArgumentError('give either --replicas (a move) or --cancel (stop the running one)');
      if (o.replicas === undefined) {
        await withAdmin(o.broker, async (a) => {
          const running = (await a.listPartitionReassignments([name])).find((r) => r.partition === o.partition);
          await a.cancelPartitionReassignments([{ topic: name, partition: o.partition }]);
          const origin = running?.replicas.filter((b) => !running.addingReplicas.includes(b));
          process.stderr.write(`cancelled the reassignment of ${name}-${o.partition}${origin ? `: back to ${origin.join(',')}` : ''}\n`);
        });
        return;
      }
      const move = { topic: name, partition: o.partition, replicas: o.replicas };
      await withAdmin(o.broker, async (a) => {
        const before = (await a.describeTopic(name)).partitions.find((p) => p.partition === o.partition)?.replicas;
        await a.reassignPartitions([move]);
        process.stderr.write(`reassigning ${name}-${o.partition}: ${before?.join(',') ?? '?'} -> ${o.replicas!.join(',')}\n`);
        if (o.wait) {
          await waitForMoves(a, [move], o.timeoutMs);
          process.stderr.write(`reassigned ${name}-${o.partition} to ${o.replicas!.join(',')}\n`);
        }
      });
    });

  topic
    .command('delete')
    .description('delete a topic and all its data')
    .argument('<name>', 'topic name')
    .addOption(brokerOption())
    .action(async (name: string, o: { broker: string[] }) => {
      await withAdmin(o.broker, (a) => a.deleteTopic(name));
      process.stderr.write(`deleted topic '${name}'\n`);
    });
}
