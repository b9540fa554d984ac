/**
 * Share group settings on the wire (protocol ShareGroupSettings) to and from the queue's
 * config: the one list of fields a worker may set at creation (ShareAcquire), an admin may
 * change later (ShareAlter), and describe shows (ShareDescribe).
 */
import type { ShareGroupSettings } from '../protocol/api.js';
import type { ShareGroupConfig } from '../queue/types.js';

const SETTING_KEYS = [
  'visibilityTimeoutMs', 'maxDeliveries', 'retryBackoffMs', 'retryBackoffMaxMs', 'deadLetterTopic', 'sessionTimeoutMs', 'startFrom',
  'rateLimit', 'maxInFlight', 'maxWindow',
] as const satisfies readonly (keyof ShareGroupSettings & keyof ShareGroupConfig)[];

/** The fields `s` sets, as a config patch (values are checked by resolveShareConfig, INVALID_CONFIG naming the field). */
export function pickSettings(s: ShareGroupSettings): Partial<ShareGroupConfig> {
  const out: Record<string, unknown> = {};
  for (const k of SETTING_KEYS) if (s[k] !== undefined) out[k] = s[k];
  return out as Partial<ShareGroupConfig>;
}

/** Every setting of a group's config, as describe and alter answer them. */
export function settingsOf(c: Readonly<ShareGroupConfig>): Required<ShareGroupSettings> {
  return {
    visibilityTimeoutMs: c.visibilityTimeoutMs, maxDeliveries: c.maxDeliveries, retryBackoffMs: c.retryBackoffMs,
    retryBackoffMaxMs: c.retryBackoffMaxMs, deadLetterTopic: c.deadLetterTopic, sessionTimeoutMs: c.sessionTimeoutMs, startFrom: c.startFrom,
    rateLimit: c.rateLimit, maxInFlight: c.maxInFlight, maxWindow: c.maxWindow,
  };
}
