/**
 * Which brokers a client starts from. `brokers` (a bootstrap list) is the one canonical
 * option; `url` is kept as a shorthand for `brokers: [url]`, because a single broker is the
 * default deployment and every program written so far passes `url`. Giving both is refused
 * instead of silently preferring one of them.
 *
 * The list is only where the client starts: in a cluster it learns every broker's URL from
 * Metadata (src/client/broker-pool.ts) and reaches leaders there.
 */
import { InvalidArgumentError } from './errors.js';

export const DEFAULT_BROKER = 'ws://127.0.0.1:9400';

/** The options every client class takes to say where the brokers are. */
export interface BootstrapOptions {
  /**
   * Bootstrap brokers (ws://host:port), tried in order: the first one that answers is the
   * client's home broker (groups, queues, admin, metadata). Default [ws://127.0.0.1:9400].
   */
  brokers?: readonly string[];
  /** Shorthand for `brokers: [url]`; not together with `brokers`. */
  url?: string;
}

/** The bootstrap list of `opts`, checked. */
export function bootstrapUrls(opts: BootstrapOptions): string[] {
  if (opts.url !== undefined && opts.brokers !== undefined) {
    throw new InvalidArgumentError('give either url or brokers, not both (url is a shorthand for brokers: [url])');
  }
  if (opts.url !== undefined) {
    if (typeof opts.url !== 'string' || opts.url === '') throw new InvalidArgumentError('url must be a non-empty string (ws://host:port)');
    return [opts.url];
  }
  if (opts.brokers === undefined) return [DEFAULT_BROKER];
  if (!Array.isArray(opts.brokers) || opts.brokers.length === 0 || opts.brokers.some((u) => typeof u !== 'string' || u === '')) {
    throw new InvalidArgumentError('brokers must be a non-empty list of broker URLs (ws://host:port)');
  }
  return [...opts.brokers];
}

/**
 * A broker URL in one spelling, so that the bootstrap URL a user typed and the URL a broker
 * advertises in Metadata compare equal when they name the same place (`ws://h:1` and
 * `ws://h:1/`). An unparsable URL is returned as it is (the connect reports it).
 */
export function normalizeUrl(url: string): string {
  try {
    return new URL(url).href;
  } catch {
    return url;
  }
}
