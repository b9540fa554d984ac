/**
 * Checks a (partial) share group config and fills in defaults. A bad value is a typed
 * error naming the field, never a silently clamped number.
 */
import { InvalidShareConfigError } from './errors.js';
import { DEFAULT_SHARE_GROUP_CONFIG, type ShareGroupConfig } from './types.js';

const INT_FIELDS: [keyof ShareGroupConfig, number, number][] = [
  ['visibilityTimeoutMs', 1, 24 * 3600_000 * 7],
  ['maxDeliveries', 1, 0xffff],
  ['retryBackoffMs', 0, 24 * 3600_000],
  ['retryBackoffMaxMs', 0, 24 * 3600_000 * 7],
  ['sessionTimeoutMs', 1, 24 * 3600_000],
  ['maxWindow', 1, 1_000_000],
];

export function resolveShareConfig(base: Readonly<ShareGroupConfig>, patch: Partial<ShareGroupConfig> = {}): ShareGroupConfig {
  const out: ShareGroupConfig = { ...base };
  for (const [field, min, max] of INT_FIELDS) {
    const v = patch[field];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw new InvalidShareConfigError(field, `must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
    }
    (out as unknown as Record<string, number>)[field] = v;
  }
  if (patch.deadLetterTopic !== undefined) {
    const t = patch.deadLetterTopic;
    if (t !== null && (typeof t !== 'string' || t === '' || t.length > 249)) {
      throw new InvalidShareConfigError('deadLetterTopic', `must be a topic name or null, got ${JSON.stringify(t)}`);
    }
    out.deadLetterTopic = t;
  }
  if (patch.startFrom !== undefined) {
    if (patch.startFrom !== 'earliest' && patch.startFrom !== 'latest') {
      throw new InvalidShareConfigError('startFrom', `must be 'earliest' or 'latest', got ${JSON.stringify(patch.startFrom)}`);
    }
    out.startFrom = patch.startFrom;
  }
  if (out.retryBackoffMaxMs < out.retryBackoffMs) {
    throw new InvalidShareConfigError('retryBackoffMaxMs', `must be >= retryBackoffMs (${out.retryBackoffMs}), got ${out.retryBackoffMaxMs}`);
  }
  return out;
}

export { DEFAULT_SHARE_GROUP_CONFIG };
