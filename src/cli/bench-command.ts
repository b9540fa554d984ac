/**
 * `sluice bench produce|consume|e2e`: load generators against a running broker.
 *
 *   produce  N messages of B bytes as fast as the broker acknowledges them (or at --rate)
 *   consume  replay a topic from its start (filled with N messages first if no --topic)
 *   e2e      produce at a fixed rate and consume at once; latency percentiles (HDR)
 *
 * `--producers K` / `--consumers K` are K client objects, each with its own connection,
 * in this one process (not K processes): on a 2-core machine extra processes would only
 * compete with the broker for the same cores. Consumers get an explicit, round-robin share
 * of the partitions, or with `--group` join a consumer group and the coordinator deals them.
 *
 * Output: a table, or one JSON object with --json (msgs/s, MB/s, latencies, settings,
 * versions, machine). Progress goes to stderr. A topic the command names itself (no
 * --topic) is deleted when it ends, also on failure, unless --keep (then its name is printed
 * on stderr); a topic named with --topic is the user's and stays, so `bench consume --topic T`
 * can replay what `bench produce --topic T` wrote.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { Admin, BrokerError, type Acks } from '../client/index.js';
import { brokerOption, intOption } from './broker-url.js';
import { runProduce } from './bench/produce-load.js';
import { runConsume } from './bench/consume-load.js';
import { runE2e } from './bench/e2e-load.js';
import { emit } from './bench/report.js';
import { clientSecurity } from './client-security.js';

function parseAcks(v: string): Acks {
  if (v === '0') return 0;
  if (v === '1') return 1;
  if (v === 'all' || v === '-1') return 'all';
  throw new InvalidArgumentError(`--acks must be 0, 1 or all, not '${v}'`);
}

/** Creates `topic` with `partitions` unless it exists; returns its partition count. */
async function ensureTopic(brokers: readonly string[], topic: string, partitions: number): Promise<number> {
  const admin = new Admin({ ...clientSecurity(), brokers });
  try {
    try {
      return (await admin.describeTopic(topic)).partitions.length;
    } catch (err) {
      if (!(err instanceof BrokerError && err.code === 'UNKNOWN_TOPIC_OR_PARTITION')) throw err;
    }
    await admin.createTopics([{ name: topic, partitions }]);
    return partitions;
  } finally {
    await admin.close();
  }
}

const freshTopic = (kind: string) => `bench-${kind}-${Date.now().toString(36)}-${process.pid}`;

interface Common { broker: string[]; json?: boolean; progress: boolean; topic?: string; keep?: boolean }

/**
 * Runs `body` on `o.topic`, or on a new bench-* topic that is deleted afterwards (also when
 * `body` fails) unless --keep.
 */
async function withBenchTopic(o: Common, kind: string, body: (topic: string, fresh: boolean) => Promise<void>): Promise<void> {
  if (o.topic !== undefined) return body(o.topic, false);
  const topic = freshTopic(kind);
  try {
    await body(topic, true);
  } finally {
    if (o.keep) process.stderr.write(`kept topic ${topic}\n`);
    else await deleteIfExists(o.broker, topic);
  }
}

async function deleteIfExists(brokers: readonly string[], topic: string): Promise<void> {
  const admin = new Admin({ ...clientSecurity(), brokers });
  try {
    await admin.deleteTopic(topic);
  } catch (err) {
    if (!(err instanceof BrokerError && err.code === 'UNKNOWN_TOPIC_OR_PARTITION')) throw err;
  } finally {
    await admin.close();
  }
}

export function registerBenchCommand(program: Command): void {
  const bench = program.command('bench').description('benchmark a running broker: produce, consume (replay), e2e latency');
  const common = (c: Command) => c
    .addOption(brokerOption())
    .option('-t, --topic <name>', 'topic to use (created if missing); default: a new bench-* topic')
    .option('--keep', 'keep the bench-* topic the command creates (default: deleted at the end)')
    .option('--json', 'print one JSON object instead of a table')
    .option('--no-progress', 'no progress line on stderr');
  const producerOpts = (c: Command) => c
    .option('-n, --messages <n>', 'messages to send', intOption('--messages', 1), 1_000_000)
    .option('-s, --size <bytes>', 'value size in bytes', intOption('--size', 0), 100)
    .option('-p, --partitions <p>', 'partitions of a topic the command creates', intOption('--partitions', 1), 1)
    .addOption(new Option('-a, --acks <acks>', '0, 1 or all').argParser(parseAcks).default(1 as Acks, '1'))
    .option('--batch-bytes <bytes>', 'producer batchBytes', intOption('--batch-bytes', 1), 1024 * 1024)
    .option('--in-flight <n>', 'producer maxInFlight (requests outstanding per connection)', intOption('--in-flight', 1), 5)
    .option('--no-idempotent', 'producer without idempotence (no producer id, no sequence numbers)');

  common(producerOpts(bench.command('produce').description('produce N messages, as fast as acknowledged or at --rate')))
    .option('--producers <k>', 'producer objects (connections) in this process', intOption('--producers', 1), 1)
    .option('--linger-ms <ms>', 'producer lingerMs', intOption('--linger-ms', 0), 5)
    .option('--rate <msgs/s>', 'offered load in msgs/s (0: unlimited)', intOption('--rate', 0), 0)
    // 1000 x 32: ~32k messages outstanding (about three 1 MiB batches) keeps the
    // Producer's pipeline full; 10k x 32 held 320k message objects alive and ran ~25%
    // slower (medians of 3, 1M x 100 B: 0.97 M vs 1.29 M msgs/s on a loaded machine).
    .option('--chunk <n>', 'messages per sendBatch() call', intOption('--chunk', 1), 1000)
    .option('--window <n>', 'sendBatch() calls outstanding per producer', intOption('--window', 1), 32)
    .action((o: Common & Record<string, any>) => withBenchTopic(o, 'produce', async (topic) => {
      const partitions = await ensureTopic(o.broker, topic, o.partitions);
      emit(await runProduce({
        brokers: o.broker, topic, messages: o.messages, size: o.size, partitions, producers: o.producers, acks: o.acks,
        batchBytes: o.batchBytes, lingerMs: o.lingerMs, inFlight: o.inFlight, chunk: o.chunk, window: o.window,
        rate: o.rate, progress: o.progress, idempotent: o.idempotent,
      }), !!o.json);
    }));

  common(producerOpts(bench.command('consume').description('replay a topic from its start (fills a new topic with N messages first unless --topic)')))
    .option('--consumers <k>', 'consumer objects in this process; partitions are dealt round-robin', intOption('--consumers', 1), 1)
    .option('--max-bytes <bytes>', 'consumer maxBytes (cap on one fetch response; default: the Consumer\'s)', intOption('--max-bytes', 1))
    .option('--max-partition-bytes <bytes>', 'consumer maxPartitionBytes (default: the Consumer\'s)', intOption('--max-partition-bytes', 1))
    .option('-g, --group <id>', 'consume as members of this (new) consumer group instead of explicit assignment')
    .action((o: Common & Record<string, any>) => withBenchTopic(o, 'consume', async (topic, fresh) => {
      if (fresh) {
        const partitions = await ensureTopic(o.broker, topic, o.partitions);
        await runProduce({
          brokers: o.broker, topic, messages: o.messages, size: o.size, partitions, producers: 1, acks: o.acks,
          batchBytes: o.batchBytes, lingerMs: 5, inFlight: o.inFlight, chunk: 1000, window: 32, rate: 0, progress: o.progress, idempotent: o.idempotent,
        });
      }
      emit(await runConsume({
        brokers: o.broker, topic, consumers: o.consumers, maxBytes: o.maxBytes, maxPartitionBytes: o.maxPartitionBytes, group: o.group, progress: o.progress,
      }), !!o.json);
    }));

  common(producerOpts(bench.command('e2e').description('produce at a fixed rate, consume at once, report latency percentiles')))
    .option('--rate <msgs/s>', 'offered load in msgs/s', intOption('--rate', 1), 10_000)
    .option('--linger-ms <ms>', 'producer lingerMs', intOption('--linger-ms', 0), 0)
    .option('--max-wait-ms <ms>', 'consumer long-poll wait', intOption('--max-wait-ms', 0), 500)
    .option('--warmup-ms <ms>', 'messages due in the first <ms> are not recorded', intOption('--warmup-ms', 0), 1000)
    .action((o: Common & Record<string, any>, cmd: Command) => withBenchTopic(o, 'e2e', async (topic) => {
      // Without -n, e2e runs for 10 s of offered load (1M messages at 10k/s would be 100 s).
      if (cmd.getOptionValueSource('messages') === 'default') o.messages = o.rate * 10;
      const partitions = await ensureTopic(o.broker, topic, o.partitions);
      emit(await runE2e({
        brokers: o.broker, topic, messages: o.messages, size: o.size, partitions, rate: o.rate, acks: o.acks,
        batchBytes: o.batchBytes, lingerMs: o.lingerMs, inFlight: o.inFlight, maxWaitMs: o.maxWaitMs, warmupMs: o.warmupMs,
        progress: o.progress, idempotent: o.idempotent,
      }), !!o.json);
    }));
}
