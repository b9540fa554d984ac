/**
 * One line per event. `json` (the default when stdout is not a terminal, i.e. under a
 * supervisor or log shipper): {"ts":"...","level":"info","event":"listening",...fields}.
 * `pretty` (default on a terminal): `12:00:01.234 INFO  listening host=127.0.0.1 port=9400`.
 * Events are things an operator acts on (start, ready, topic created, recovery, errors);
 * nothing is logged per request except at debug level. Lines below `level` cost one
 * comparison.
 */
import type { LogFormat, LogLevel } from '../config/settings.js';

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(event: string, fields?: Record<string, unknown>): void;
  info(event: string, fields?: Record<string, unknown>): void;
  warn(event: string, fields?: Record<string, unknown>): void;
  error(event: string, fields?: Record<string, unknown>): void;
  enabled(level: LogLevel): boolean;
}

type Write = (line: string) => void;

export function createLogger(level: LogLevel, write: Write = (l) => process.stdout.write(l), format: LogFormat = 'json'): Logger {
  const min = RANK[level];
  const pretty = format === 'pretty' || (format === 'auto' && process.stdout.isTTY === true);
  const line = pretty ? prettyLine : jsonLine;
  const emit = (lvl: LogLevel) => (event: string, fields?: Record<string, unknown>) => {
    if (RANK[lvl] < min) return;
    write(line(lvl, event, fields));
  };
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error'), enabled: (l) => RANK[l] >= min };
}

function jsonLine(level: LogLevel, event: string, fields?: Record<string, unknown>): string {
  return `${JSON.stringify({ ts: new Date().toISOString(), level, event, ...fields }, errorsAsText)}\n`;
}

/** For people: local time, padded level, the event, then key=value (values JSON-encoded unless plain words). */
function prettyLine(level: LogLevel, event: string, fields?: Record<string, unknown>): string {
  const d = new Date();
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
  let out = `${time} ${level.toUpperCase().padEnd(5)} ${event}`;
  let stack: string | undefined;
  for (const [k, v] of Object.entries(fields ?? {})) {
    if (v === undefined) continue;
    if (k === 'stack' && typeof v === 'string') {
      stack = v;
      continue;
    }
    const s = typeof v === 'string' && /^[\w./:@-]+$/.test(v) ? v : JSON.stringify(v, errorsAsText);
    out += ` ${k}=${s}`;
  }
  return `${out}\n${stack ? `${stack.replace(/^/gm, '    ')}\n` : ''}`;
}

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

function errorsAsText(_key: string, v: unknown): unknown {
  if (v instanceof Error) {
    const { code, retriable } = v as { code?: string; retriable?: unknown };
    // A SluiceError's code and retriable say what to do about it; the stack is for developers, not logs.
    return { name: v.name, message: v.message, ...(code ? { code } : {}), ...(typeof retriable === 'boolean' ? { retriable } : {}) };
  }
  return v;
}
