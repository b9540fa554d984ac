/**
 * Checks the per-topic overrides a CreateTopics request may carry (TopicConfig in api.ts).
 * Pure. A bad entry fails only that topic, with INVALID_CONFIG naming the key.
 */
import type { TopicConfig } from './api.js';

/** Each key and the smallest value it accepts (-1 means "no limit" where allowed). */
const MINIMUM: Readonly<Record<keyof TopicConfig, number>> = {
  segmentBytes: 1024,
  segmentMs: 1,
  indexIntervalBytes: 1,
  retentionMs: -1,
  retentionBytes: -1,
  flushMessages: -1,
  flushMs: -1,
  minInsyncReplicas: 1,
};

export const TOPIC_CONFIG_KEYS = Object.keys(MINIMUM) as (keyof TopicConfig)[];

/** Why `config` is not acceptable, or undefined when it is. */
export function topicConfigProblem(config: Record<string, unknown>): string | undefined {
  for (const [key, value] of Object.entries(config)) {
    if (!(key in MINIMUM)) return `unknown topic config '${key}' (known: ${TOPIC_CONFIG_KEYS.join(', ')})`;
    const min = MINIMUM[key as keyof TopicConfig];
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) return `topic config '${key}' must be an integer`;
    if (value < min) return `topic config '${key}' must be >= ${min}, got ${value}`;
  }
  return undefined;
}
