/**
 * Runs a broker as the process's main job: start, then on SIGINT/SIGTERM shut down
 * gracefully and exit 0; a second signal exits at once (code 130). A failure to start
 * (port taken, data dir unusable) logs the reason and exits 1. SIGHUP reloads the TLS
 * certificate and key (server.ts `reloadTls`).
 */
import type { BrokerConfig } from '../config/settings.js';
import { Broker, type OpenLogs } from './server.js';
import { createLogger, type Logger } from './logger.js';
import { openLogs } from './open-logs.js';

export async function runBroker(config: BrokerConfig, opts: { log?: Logger; open?: OpenLogs; warnings?: string[] } = {}): Promise<Broker> {
  const log = opts.log ?? createLogger(config.logLevel, undefined, config.logFormat);
  for (const w of opts.warnings ?? []) log.warn('config', { message: w });
  const broker = new Broker(config, log, opts.open ?? openLogs);
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      log.warn('second signal: exiting now', { signal });
      process.exit(130);
    }
    log.info('signal', { signal });
    broker.stop().then(() => process.exit(0), (err: unknown) => {
      log.error('shutdown failed', { error: err });
      process.exit(1);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Renewed certificates (docs/security.md): new connections get them, open ones keep theirs.
  process.on('SIGHUP', () => { void broker.reloadTls(); });
  try {
    await broker.start();
  } catch (err) {
    log.error('start failed', { error: err });
    process.exit(1);
  }
  return broker;
}
