/**
 * `sluice produce TOPIC`: one message per input line (stdin or --file). Lines are sent in
 * chunks without waiting for each acknowledgement; a bounded number of chunks is
 * outstanding, so a large file streams at producer speed with bounded memory. Exit code
 * 0 only when every line was acknowledged (with --acks 0: written to the socket).
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { Command, InvalidArgumentError, Option } from 'commander';
import { Producer } from '../client/producer.js';
import type { Acks, ProducerMessage, RecordHeader } from '../client/types.js';
import { InvalidArgumentError as ClientArgError } from '../client/errors.js';
import { brokerOption, intOption } from './broker-url.js';
import { durationOption, timeOption } from './duration-option.js';
import { clientSecurity } from './client-security.js';

const CHUNK = 1000;
const MAX_OUTSTANDING = 64;

function parseAcks(v: string): Acks {
  if (v === '0') return 0;
  if (v === '1') return 1;
  if (v === 'all' || v === '-1') return 'all';
  throw new InvalidArgumentError(`--acks must be 0, 1 or all, not '${v}'`);
}

function parseHeader(v: string, prev: RecordHeader[] = []): RecordHeader[] {
  const eq = v.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`--header takes key=value, not '${v}'`);
  return [...prev, { key: v.slice(0, eq), value: v.slice(eq + 1) }];
}

interface ProduceOpts {
  broker: string[];
  key?: string;
  keySeparator?: string;
  partition?: number;
  acks: Acks;
  file?: string;
  header?: RecordHeader[];
  delay?: number;
  at?: number;
}

export function registerProduceCommand(program: Command): void {
  program
    .command('produce')
    .description('send one message per line of stdin (or --file) to a topic')
    .argument('<topic>', 'topic to produce to')
    .option('-k, --key <key>', 'key for every message (picks the partition by murmur2 hash)')
    .option('-s, --key-separator <sep>', 'split each line at the first <sep> into key and value')
    .option('-p, --partition <p>', 'send every message to this partition', intOption('--partition'))
    .addOption(new Option('-a, --acks <acks>', 'acknowledgement: 0 (none), 1 (appended), all (fsynced)').argParser(parseAcks).default(1, '1'))
    .option('-f, --file <path>', 'read lines from a file instead of stdin')
    .option('-H, --header <key=value>', 'header for every message, repeatable', parseHeader)
    .option('--delay <duration>', 'queue mode: share groups hand each message out only this long after it is sent (10m, 30s, 1h30m; at most 30d)', durationOption('--delay'))
    .option('--at <iso-time>', 'queue mode: share groups hand each message out only from this time (ISO 8601)', timeOption('--at'))
    .addOption(brokerOption())
    .addHelpText('after', '\nExample:\n  printf "a\\nb\\n" | sluice produce events --key user-1\n  sluice produce events --key-separator : --file lines.txt\n  echo \'{"to":"a@b.c"}\' | sluice produce emails --delay 10m')
    .action(async (topic: string, o: ProduceOpts) => {
      if (o.key !== undefined && o.keySeparator !== undefined) throw new ClientArgError('use either --key or --key-separator, not both');
      if (o.keySeparator === '') throw new ClientArgError('--key-separator must not be empty');
      if (o.delay !== undefined && o.at !== undefined) throw new ClientArgError('use either --delay or --at, not both');
      const producer = new Producer({ ...clientSecurity(), brokers: o.broker, acks: o.acks });
      await producer.connect();
      try {
        await producer.partitionCount(topic); // an unknown topic fails before any input is read
      } catch (err) {
        await producer.close().catch(() => {});
        throw err;
      }
      let sent = 0;
      let failure: unknown = null;
      const outstanding: Promise<void>[] = [];
      const track = (p: Promise<void>) => {
        outstanding.push(p.catch((err) => { failure ??= err; }));
      };
      try {
        const input = o.file ? createReadStream(o.file) : process.stdin;
        const lines = createInterface({ input, crlfDelay: Infinity });
        let chunk: ProducerMessage[] = [];
        let lineNo = 0;
        for await (const line of lines) {
          lineNo++;
          const m: ProducerMessage = { value: line };
          if (o.keySeparator !== undefined) {
            const at = line.indexOf(o.keySeparator);
            if (at < 0) throw new ClientArgError(`line ${lineNo} has no key separator '${o.keySeparator}'`);
            m.key = line.slice(0, at);
            m.value = line.slice(at + o.keySeparator.length);
          } else if (o.key !== undefined) {
            m.key = o.key;
          }
          if (o.partition !== undefined) m.partition = o.partition;
          if (o.header) m.headers = o.header;
          if (o.delay !== undefined) m.delayMs = o.delay;
          if (o.at !== undefined) m.deliverAt = o.at;
          chunk.push(m);
          if (chunk.length >= CHUNK) {
            track(producer.sendBatch(topic, chunk));
            sent += chunk.length;
            chunk = [];
            if (outstanding.length >= MAX_OUTSTANDING) await outstanding.shift();
            if (failure) throw failure;
          }
        }
        if (chunk.length) {
          track(producer.sendBatch(topic, chunk));
          sent += chunk.length;
        }
        await Promise.all(outstanding);
        if (failure) throw failure;
        await producer.flush();
      } finally {
        await producer.close().catch(() => {});
      }
      process.stderr.write(`produced ${sent} message${sent === 1 ? '' : 's'} to '${topic}'\n`);
    });
}
