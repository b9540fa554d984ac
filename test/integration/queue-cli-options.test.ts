// Delayed jobs and group limits set from the command line, against the real broker process:
// `sluice produce --delay/--at` (issue 15: "send this e-mail in 10 minutes" with nothing else)
// and `sluice queue consume --rate/--max-in-flight` on the group it creates. The client-side
// options (delayMs, deliverAt, settings) are tested in queue-delay and queue-limits.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type BrokerHandle } from './harness.js';
import { Admin, Producer, QueueConsumer, type Job } from '../../src/client/index.js';
import { runCli, type CliResult } from './cli-process.js';
import { waitFor } from './group-helpers.js';
import { fillJobs as fillJobsAt } from './broker-helpers.js';

let broker: BrokerHandle;
before(async () => { broker = await startBroker(); });
after(async () => { await broker.stop(); });

const sluice = (args: string[]): Promise<CliResult> => runCli(broker.url, args);

/** A new one-partition topic holding jobs `job 0` .. `job n-1`. */
const fillJobs = (topic: string, n: number) => fillJobsAt(broker.url, topic, n);

test('sluice produce --delay and --at: a share group hands the job out no earlier, and the jobs sent after it at once', async () => {
  const topic = 'cli-delay';
  const admin = new Admin({ url: broker.url });
  await admin.createTopic(topic, 1);
  await admin.close();
  // The worker waits first, so each job is looked at as soon as it is appended.
  const got = new Map<string, { at: number; job: Job }>();
  const q = new QueueConsumer({ url: broker.url, groupId: 'cli-delay-g', topics: topic, concurrency: 4, maxWaitMs: 500 });
  const run = q.run(async (job) => { got.set(job.value?.toString() ?? '', { at: Date.now(), job }); });
  // Room for two CLI starts on a loaded machine (seconds each) before the first job is due.
  const DELAY = 20_000;
  let before = 0;
  let after = 0;
  let at = new Date(0);
  try {
    before = Date.now();
    const later = await runCli(broker.url, ['produce', topic, '--delay', '20s', '--acks', 'all'], { input: 'later\n' });
    assert.equal(later.code, 0, later.stderr);
    after = Date.now();
    // --at: the time as written, to the millisecond (a whole second past the --delay job's).
    at = new Date(Math.ceil((after + DELAY) / 1000) * 1000);
    const scheduled = await runCli(broker.url, ['produce', topic, '--at', at.toISOString(), '--acks', 'all'], { input: 'scheduled\n' });
    assert.equal(scheduled.code, 0, scheduled.stderr);
    const p = new Producer({ url: broker.url, acks: 'all' });
    await p.send(topic, { value: 'now' });
    await p.close();
    await waitFor('the job sent after the delayed ones', () => got.has('now'), 30_000, 20);
    assert.ok(Date.now() < before + DELAY, 'the CLI took so long that the delayed job came due meanwhile: nothing was tested');
    assert.deepEqual([...got.keys()], ['now'], 'a delayed job was handed out before its time');
    await waitFor('both delayed jobs', () => got.size === 3, 60_000, 20);
  } finally {
    await q.close();
    await run;
  }
  const header = (value: string) => Number(got.get(value)!.job.headers.find((h) => h.key === 'sluice.deliver.at')?.value?.toString());
  const due = header('later');
  assert.ok(due >= before + DELAY && due <= after + DELAY, `--delay 20s stored ${due - before} ms after the command started`);
  assert.ok(got.get('later')!.at >= due, `handed out ${due - got.get('later')!.at} ms before its time`);
  assert.equal(header('scheduled'), at.getTime(), '--at stores the time given');
  assert.ok(got.get('scheduled')!.at >= at.getTime(), `handed out ${at.getTime() - got.get('scheduled')!.at} ms before its time`);
  assert.deepEqual([got.get('later')!.job.deliveryCount, got.get('scheduled')!.job.deliveryCount], [1, 1], 'waiting is not a delivery attempt');
});

test('queue consume --rate and --max-in-flight set the limits of the group it creates; on a group with other limits they are refused, naming both values and the queue alter that changes them', async () => {
  await fillJobs('cli-limits', 6);
  const first = await sluice(['queue', 'consume', 'cli-limits', '--group', 'cli-limits-g', '--rate', '7', '--max-in-flight', '3', '--max-messages', '3']);
  assert.equal(first.code, 0, first.stderr);
  const limits = async () => {
    const d = await sluice(['queue', 'describe', 'cli-limits-g', '--format', 'json']);
    assert.equal(d.code, 0, d.stderr);
    const { rateLimit, maxInFlight } = (JSON.parse(d.stdout) as { settings: { rateLimit: number; maxInFlight: number } }).settings;
    return { rateLimit, maxInFlight };
  };
  assert.deepEqual(await limits(), { rateLimit: 7, maxInFlight: 3 });
  const text = await sluice(['queue', 'describe', 'cli-limits-g']);
  assert.match(text.stdout, /^LIMITS\s+rate 7\/s, max in flight 3$/m);
  // Another value on the existing group: refused by the broker at the worker's first acquire,
  // before any job is taken (RabbitMQ's "inequivalent arg"), not ignored silently; the group
  // keeps its limits.
  const other = await sluice(['queue', 'consume', 'cli-limits', '--group', 'cli-limits-g', '--rate', '50', '--max-in-flight', '3', '--max-messages', '3']);
  assert.equal(other.code, 1, other.stderr);
  assert.equal(other.stdout, '');
  assert.match(other.stderr, /INCONSISTENT_GROUP_PROTOCOL: share group 'cli-limits-g' exists with rateLimit 7 \(50 given\):/);
  assert.doesNotMatch(other.stderr, /maxInFlight|max-in-flight/, 'a flag with the group\'s own value is not named');
  const alterCommand = /sluice (queue alter cli-limits-g --rate 50)$/m.exec(other.stderr);
  assert.ok(alterCommand, other.stderr);
  assert.deepEqual(await limits(), { rateLimit: 7, maxInFlight: 3 });
  // The group's own values, or no flags: the worker joins the group as it is.
  const same = await sluice(['queue', 'consume', 'cli-limits', '--group', 'cli-limits-g', '--rate', '7', '--max-in-flight', '3', '--max-messages', '2']);
  assert.equal(same.code, 0, same.stderr);
  assert.deepEqual(same.stdout.trim().split('\n'), ['job 3', 'job 4']);
  // After the alter the message names (run as it reads), the same flags are the group's own.
  const altered = await sluice(alterCommand[1].split(' '));
  assert.equal(altered.code, 0, altered.stderr);
  const after = await sluice(['queue', 'consume', 'cli-limits', '--group', 'cli-limits-g', '--rate', '50', '--max-messages', '1']);
  assert.equal(after.code, 0, after.stderr);
  assert.deepEqual(after.stdout.trim().split('\n'), ['job 5']);
  assert.deepEqual(await limits(), { rateLimit: 50, maxInFlight: 3 });
});

test('queue consume --dead-letter-topic on a group with another is refused naming it; the default <topic>.dlq given explicitly is the group\'s own', async () => {
  await fillJobs('cli-dlq', 2);
  const first = await sluice(['queue', 'consume', 'cli-dlq', '--group', 'cli-dlq-g', '--max-messages', '1']);
  assert.equal(first.code, 0, first.stderr);
  const other = await sluice(['queue', 'consume', 'cli-dlq', '--group', 'cli-dlq-g', '--dead-letter-topic', 'elsewhere', '--max-messages', '1']);
  assert.equal(other.code, 1, other.stderr);
  assert.match(other.stderr, /exists with deadLetterTopic 'cli-dlq\.dlq' \('elsewhere' given\):.*\(sluice queue alter has no flag for deadLetterTopic\)$/m);
  const same = await sluice(['queue', 'consume', 'cli-dlq', '--group', 'cli-dlq-g', '--dead-letter-topic', 'cli-dlq.dlq', '--max-messages', '1']);
  assert.equal(same.code, 0, same.stderr);
  assert.deepEqual(same.stdout.trim().split('\n'), ['job 1']);
});
