/**
 * Where replication's diagnostics go: the libraries' one logger shape (src/event-logger.ts),
 * under the names replication's modules import. Silent unless one is handed in.
 */
import { SILENT_EVENT_LOGGER, type EventLogger } from '../event-logger.js';

export type ReplicationLogger = EventLogger;

export const SILENT_REPLICATION_LOGGER: ReplicationLogger = SILENT_EVENT_LOGGER;
