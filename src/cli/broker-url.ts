/**
 * The `--broker` option every client command takes, and the URL rules: `--broker` beats
 * SLUICE_BROKER beats ws://127.0.0.1:9400; a bare host:port gets ws:// in front.
 */
import { InvalidArgumentError, Option } from 'commander';
import { DEFAULT_BROKER } from '../client/producer.js';

export function brokerOption(): Option {
  return new Option('-b, --broker <url>', 'broker URL (ws://host:port)')
    .env('SLUICE_BROKER')
    .default(DEFAULT_BROKER)
    .argParser(parseBrokerUrl);
}

export function parseBrokerUrl(value: string): string {
  const v = value.includes('://') ? value : `ws://${value}`;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new InvalidArgumentError(`'${value}' is not a broker URL (expected ws://host:port)`);
  }
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') {
    throw new InvalidArgumentError(`'${value}' must use ws:// or wss://`);
  }
  return v;
}

/** Parses a non-negative integer option value, naming the option in the error. */
export function intOption(name: string, min = 0) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(`${name} must be an integer >= ${min}, not '${value}'`);
    }
    return n;
  };
}
