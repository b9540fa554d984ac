/**
 * Checks a (partial) share group config and fills in defaults. A bad value is a typed
 * error naming the field, never a silently clamped number.
 */
import { INTERNAL_TOPIC_PREFIX, isInternalTopicName, topicNameProblem } from '../topic-name.js';
import { InvalidShareConfigError } from './errors.js';
import { DEFAULT_SHARE_GROUP_CONFIG, type ShareGroupConfig } from './types.js';

/** Largest maxWindow: no share-partition tracks more offsets than this past its start. */
export const MAX_WINDOW_LIMIT = 1_000_000;

const DAY_MS = 24 * 3600_000;

/**
 * [min, max] of each integer field of a share group config: the one source of these ranges.
 * The broker's share.* settings (config/settings.ts) take theirs from here, so a default the
 * broker accepts at start-up is one every group accepts (config/ imports queue/, never the
 * other way round).
 */
export const SHARE_CONFIG_RANGES = {
  visibilityTimeoutMs: [1, 7 * DAY_MS],
  maxDeliveries: [1, 0xffff],
  retryBackoffMs: [0, DAY_MS],
  retryBackoffMaxMs: [0, 7 * DAY_MS],
  sessionTimeoutMs: [1, DAY_MS],
  maxWindow: [1, MAX_WINDOW_LIMIT],
  rateLimit: [0, 1_000_000],
  maxInFlight: [0, 1_000_000],
} as const satisfies Partial<Record<keyof ShareGroupConfig, readonly [number, number]>>;

const INT_FIELDS = Object.entries(SHARE_CONFIG_RANGES) as [keyof typeof SHARE_CONFIG_RANGES, readonly [number, number]][];

export function resolveShareConfig(base: Readonly<ShareGroupConfig>, patch: Partial<ShareGroupConfig> = {}): ShareGroupConfig {
  const out: ShareGroupConfig = { ...base };
  for (const [field, [min, max]] of INT_FIELDS) {
    const v = patch[field];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw new InvalidShareConfigError(field, `must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
    }
    out[field] = v;
  }
  if (patch.deadLetterTopic !== undefined) {
    const t = patch.deadLetterTopic;
    if (t !== null) {
      const problem = deadLetterTopicProblem(t);
      if (problem) throw new InvalidShareConfigError('deadLetterTopic', problem);
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

/**
 * Why `t` cannot be a dead-letter topic, or undefined when it can. The broker writes dead
 * letters itself, so without this a worker could make it write into an internal topic: a
 * record copied into `__consumer_offsets-0` forged a committed offset, or (a key that is not
 * JSON) kept the broker from starting until its data directory was edited by hand.
 */
export function deadLetterTopicProblem(t: unknown): string | undefined {
  if (typeof t !== 'string') return `must be a topic name or null, got ${JSON.stringify(t)}`;
  const problem = topicNameProblem(t);
  if (problem) return problem;
  if (isInternalTopicName(t)) return `'${t}' is an internal topic (names starting with '${INTERNAL_TOPIC_PREFIX}' are the broker's own)`;
  return undefined;
}

export { DEFAULT_SHARE_GROUP_CONFIG };
