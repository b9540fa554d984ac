/**
 * Share group settings on the wire (protocol ShareGroupSettings) to and from the queue's
 * config: the one list of fields a worker may set at creation (ShareAcquire), an admin may
 * change later (ShareAlter), and describe shows (ShareDescribe); and the one check of a
 * joining worker's settings against an existing group's (refuseOtherSettings).
 */
import type { ShareGroupSettings } from '../protocol/api.js';
import type { ShareGroupConfig } from '../queue/types.js';
import { resolveShareConfig } from '../queue/share-config.js';
import { ShareSettingsConflictError, type ShareSettingDifference } from '../queue/errors.js';

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

/**
 * The flag of `sluice queue alter` (src/cli/queue-command.ts) for each setting it changes,
 * for the command a refusal names; the other settings only QueueAdmin.alterGroup() changes.
 */
const ALTER_FLAGS: Partial<Record<(typeof SETTING_KEYS)[number], string>> = {
  rateLimit: '--rate', maxInFlight: '--max-in-flight', visibilityTimeoutMs: '--visibility-timeout', maxDeliveries: '--max-deliveries', maxWindow: '--max-window',
};

/**
 * Refuses a worker joining the existing group `groupId` (config `config`) with `given`
 * settings that differ from the group's: ShareSettingsConflictError
 * (INCONSISTENT_GROUP_PROTOCOL) naming each differing setting with both values, and the
 * alter that would change it for every worker. Settings the worker did not give are not
 * compared; a dead-letter topic is compared as it applies to the worker's `topics` (the
 * default, null, is `<topic>.dlq`: given explicitly for the one topic, it is the group's).
 * Values are checked first as a creation would check them (`defaults`: INVALID_CONFIG
 * naming the field), so a refusal never names a value no group could have.
 */
export function refuseOtherSettings(groupId: string, config: Readonly<ShareGroupConfig>, given: ShareGroupSettings, topics: readonly string[], defaults: Readonly<ShareGroupConfig>): void {
  const picked = pickSettings(given);
  resolveShareConfig(defaults, picked);
  const differences: ShareSettingDifference[] = [];
  for (const k of SETTING_KEYS) {
    const v = picked[k];
    if (v === undefined) continue;
    const same = k === 'deadLetterTopic'
      ? topics.every((t) => (config.deadLetterTopic ?? `${t}.dlq`) === ((v as string | null) ?? `${t}.dlq`))
      : v === config[k];
    if (!same) differences.push({ setting: k, group: config[k], given: v });
  }
  if (differences.length === 0) return;
  const show = (setting: string, v: unknown): string => {
    if (setting === 'deadLetterTopic') return v === null ? (topics.length === 1 ? `'${topics[0]}.dlq'` : 'null (<topic>.dlq)') : `'${String(v)}'`;
    if (typeof v === 'string') return `'${v}'`;
    return (setting === 'rateLimit' || setting === 'maxInFlight') && v === 0 ? '0 = no limit' : String(v);
  };
  const flags: string[] = [];
  const noFlag: string[] = [];
  for (const d of differences) {
    const flag = ALTER_FLAGS[d.setting as keyof typeof ALTER_FLAGS];
    if (flag) flags.push(`${flag} ${String(d.given)}`);
    else noFlag.push(d.setting);
  }
  const named = differences.map((d) => `${d.setting} ${show(d.setting, d.group)} (${show(d.setting, d.given)} given)`).join(', ');
  const command = flags.length ? ` or: sluice queue alter ${groupId} ${flags.join(' ')}` : '';
  const unflagged = noFlag.length ? ` (sluice queue alter has no flag for ${noFlag.join(', ')})` : '';
  throw new ShareSettingsConflictError(groupId, differences,
    `share group '${groupId}' exists with ${named}: a worker's settings apply only when it creates the group. Leave them out, or give the group's, to join it as it is; `
    + `or change the group for all its workers first, with QueueAdmin.alterGroup()${unflagged}${command}`);
}
