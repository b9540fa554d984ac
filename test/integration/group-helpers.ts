// Shared bits of the consumer-group integration tests.
import { before, after } from 'node:test';
import { Admin, Consumer, type ConsumerOptions } from '../../src/client/index.js';
import { startBroker, type BrokerHandle } from './harness.js';
import { lineLogger } from './line-logger.js';

export const GROUP_BROKER_ARGS = ['--group-heartbeat-interval-ms', '250', '--group-session-timeout-ms', '10000', '--group-min-session-timeout-ms', '500'];

/**
 * Starts one broker (and an Admin on it) before this file's tests and stops both after.
 * The fields are set once `before` has run: read them inside tests.
 */
export function brokerForFile(args: string[] = GROUP_BROKER_ARGS): { broker: BrokerHandle; admin: Admin } {
  const env = {} as { broker: BrokerHandle; admin: Admin };
  before(async () => {
    env.broker = await startBroker({ args });
    env.admin = new Admin({ url: env.broker.url });
  });
  after(async () => {
    await env.admin.close();
    await env.broker.stop();
  });
  return env;
}

export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000, stepMs = 10): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    if (await cond()) return Date.now() - t0;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** A group consumer that logs into an array instead of stderr. */
export function groupConsumer(url: string, groupId: string, topics: string[] | RegExp, opts: Partial<ConsumerOptions> = {}): Consumer & { logs: string[] } {
  const logs: string[] = [];
  const c = new Consumer({ url, groupId, topics, autoOffsetReset: 'earliest', logger: lineLogger((m) => logs.push(m)), ...opts }) as Consumer & { logs: string[] };
  c.logs = logs;
  return c;
}

/** Connects `cs` one after another, each once its join was answered; returns the ms it took. */
export async function joinOneByOne(cs: Consumer[]): Promise<number> {
  const t0 = Date.now();
  for (const c of cs) {
    await c.connect();
    await waitFor('member joined', () => c.groupMember()!.memberEpoch > 0, 5000, 1);
  }
  return Date.now() - t0;
}

export const keys = (c: Consumer) => c.assignment().map((tp) => `${tp.topic}/${tp.partition}`).sort();

/** Every partition of `topic` (n partitions) owned by exactly one consumer. */
export function complete(cs: Consumer[], topic: string, n: number): boolean {
  const seen = new Map<string, number>();
  for (const c of cs) for (const k of keys(c)) seen.set(k, (seen.get(k) ?? 0) + 1);
  if (seen.size !== n) return false;
  for (let p = 0; p < n; p++) if (seen.get(`${topic}/${p}`) !== 1) return false;
  return true;
}
