/**
 * One JSON line per event: {"ts":"...","level":"info","event":"listening",...fields}.
 * Events are things an operator acts on (start, ready, topic created, recovery, errors);
 * nothing is logged per request except at debug level. Lines below `level` cost one
 * comparison.
 */
import type { LogLevel } from '../config/settings.js';

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(event: string, fields?: Record<string, unknown>): void;
  info(event: string, fields?: Record<string, unknown>): void;
  warn(event: string, fields?: Record<string, unknown>): void;
  error(event: string, fields?: Record<string, unknown>): void;
  enabled(level: LogLevel): boolean;
}

export function createLogger(level: LogLevel, write: (line: string) => void = (l) => process.stdout.write(l)): Logger {
  const min = RANK[level];
  const emit = (lvl: LogLevel) => (event: string, fields?: Record<string, unknown>) => {
    if (RANK[lvl] < min) return;
    write(`${JSON.stringify({ ts: new Date().toISOString(), level: lvl, event, ...fields }, errorsAsText)}\n`);
  };
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error'), enabled: (l) => RANK[l] >= min };
}

function errorsAsText(_key: string, v: unknown): unknown {
  if (v instanceof Error) return { name: v.name, message: v.message, ...((v as { code?: string }).code ? { code: (v as { code?: string }).code } : {}) };
  return v;
}
