/** Checks LogConfig overrides from users (topic creation, broker config) before any file exists. */
import { DEFAULT_LOG_CONFIG, type LogConfig } from './types.js';
import { InvalidConfigError } from './errors.js';

/** Smallest allowed value per key; -1 is also allowed where the key documents it as "off". */
const LIMITS: Record<keyof LogConfig, { min: number; max: number; off: boolean }> = {
  // Positions in the index are u32, so a segment may not be allowed to pass 4 GiB.
  segmentBytes: { min: 1, max: 0xffff_ffff, off: false },
  segmentMs: { min: 1, max: Number.MAX_SAFE_INTEGER, off: false },
  indexIntervalBytes: { min: 0, max: 0x7fff_ffff, off: false },
  retentionMs: { min: 0, max: Number.MAX_SAFE_INTEGER, off: true },
  retentionBytes: { min: 0, max: Number.MAX_SAFE_INTEGER, off: true },
  flushMessages: { min: 1, max: Number.MAX_SAFE_INTEGER, off: true },
  flushMs: { min: 0, max: Number.MAX_SAFE_INTEGER, off: true },
  minInsyncReplicas: { min: 1, max: 0x7fff_ffff, off: false },
};

export const LOG_CONFIG_KEYS = Object.keys(LIMITS) as (keyof LogConfig)[];

/**
 * Returns a clean copy of `overrides` holding only known keys with integer values in range.
 * Throws InvalidConfigError naming the first bad key.
 */
export function validateLogConfig(overrides: unknown): Partial<LogConfig> {
  if (overrides === undefined || overrides === null) return {};
  if (typeof overrides !== 'object' || Array.isArray(overrides)) throw new InvalidConfigError('config must be an object');
  const out: Partial<LogConfig> = {};
  for (const [key, value] of Object.entries(overrides)) {
    if (!Object.hasOwn(LIMITS, key)) throw new InvalidConfigError(`unknown config key '${key}'`);
    const lim = LIMITS[key as keyof LogConfig];
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
      throw new InvalidConfigError(`config '${key}' must be an integer, got ${JSON.stringify(value)}`);
    }
    if (!(lim.off && value === -1) && (value < lim.min || value > lim.max)) {
      throw new InvalidConfigError(`config '${key}' must be ${lim.off ? '-1 or ' : ''}between ${lim.min} and ${lim.max}, got ${value}`);
    }
    out[key as keyof LogConfig] = value;
  }
  return out;
}

/** Defaults + broker overrides + topic overrides, frozen. */
export function effectiveConfig(...layers: Partial<LogConfig>[]): Readonly<LogConfig> {
  return Object.freeze(Object.assign({}, DEFAULT_LOG_CONFIG, ...layers) as LogConfig);
}
