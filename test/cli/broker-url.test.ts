// --broker and SLUICE_BROKER take a comma-separated bootstrap list.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { brokerOption, parseBrokerList } from '../../src/cli/broker-url.js';

function parse(argv: string[], env?: string): string[] {
  const saved = process.env.SLUICE_BROKER;
  if (env === undefined) delete process.env.SLUICE_BROKER;
  else process.env.SLUICE_BROKER = env;
  try {
    const cmd = new Command().exitOverride().addOption(brokerOption());
    cmd.parse(argv, { from: 'user' });
    return cmd.opts<{ broker: string[] }>().broker;
  } finally {
    if (saved === undefined) delete process.env.SLUICE_BROKER;
    else process.env.SLUICE_BROKER = saved;
  }
}

test('--broker URL1,URL2 and SLUICE_BROKER with commas give the list; bare host:port gets ws://', () => {
  assert.deepEqual(parse(['--broker', 'h1:9400,ws://h2:9401']), ['ws://h1:9400', 'ws://h2:9401']);
  assert.deepEqual(parse([], 'ws://e1:1, e2:2'), ['ws://e1:1', 'ws://e2:2']);
  assert.deepEqual(parse(['-b', 'f:1'], 'ws://e1:1'), ['ws://f:1']);
  assert.deepEqual(parse([]), ['ws://127.0.0.1:9400']);
});

test('an empty element or a non-ws URL is refused naming it', () => {
  assert.throws(() => parseBrokerList('ws://a:1,,ws://b:2'), /empty broker URL/);
  assert.throws(() => parseBrokerList('ws://a:1,http://b:2'), /must use ws:\/\/ or wss:\/\//);
});
