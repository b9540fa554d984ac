// The base of the heap tests' fake connections (producer-heap, queue-consumer-heap): always
// connected, no broker limits, nothing to close; a subclass answers `request`.
import { Connection, type ConnectionOptions } from '../../src/client/connection.js';

export abstract class SinkConnection extends Connection {
  constructor(urls: readonly string[], opts: ConnectionOptions, private readonly sinkUrl: string) {
    super(urls, opts);
  }

  override get url(): string {
    return this.sinkUrl;
  }

  override get connected(): boolean {
    return true;
  }

  override get limits(): undefined {
    return undefined;
  }

  override connect(): Promise<void> {
    return Promise.resolve();
  }

  override close(): Promise<void> {
    return Promise.resolve();
  }
}
