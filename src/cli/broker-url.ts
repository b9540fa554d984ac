/**
 * The `--broker` option every client command takes, and the URL rules: `--broker` beats
 * SLUICE_BROKER beats ws://127.0.0.1:9400; either may name several brokers, comma-separated
 * (the client's bootstrap list, tried in order); a bare host:port gets ws:// in front.
 */
import { InvalidArgumentError, Option } from 'commander';
import { DEFAULT_BROKER } from '../client/broker-list.js';

export function brokerOption(): Option {
  return new Option('-b, --broker <urls>', 'broker URL, or several comma-separated (ws://host:port[,ws://host:port...]): where the client starts')
    .env('SLUICE_BROKER')
    .default([DEFAULT_BROKER], DEFAULT_BROKER)
    .argParser(parseBrokerList);
}

/** A comma-separated list of broker URLs (the bootstrap list), each checked as parseBrokerUrl does. */
export function parseBrokerList(value: string): string[] {
  const parts = value.split(',').map((x) => x.trim());
  if (parts.some((x) => x === '')) throw new InvalidArgumentError(`'${value}' has an empty broker URL (expected ws://host:port[,ws://host:port...])`);
  return parts.map(parseBrokerUrl);
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
export function intOption(name: string, min = 0, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be an integer ${max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in ${min}..${max}`}, not '${value}'`);
    }
    return n;
  };
}
