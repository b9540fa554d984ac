/**
 * The events storage reports through its StorageLogger and how bad each one is. Every event
 * that means stored records were lost or cannot be read is an error, so an alert on error
 * lines sees it: recovery used to report dropping 50 acknowledged, fsynced records at info.
 */
export type StorageEventLevel = 'error' | 'warn' | 'info';

/** Events that lose records; their fields carry `droppedBytes` and `droppedRecords`. */
export const DATA_LOSS_EVENTS: readonly string[] = ['storage.recovery.truncated', 'storage.recovery.segment-dropped'];
/** A read refused a batch that failed its check (fields: topic, partition, offset, segment, position, reason). */
export const CORRUPT_READ_EVENT = 'storage.read.corrupt';

const LEVELS: Readonly<Record<string, StorageEventLevel>> = {
  'storage.recovery.truncated': 'error',
  'storage.recovery.segment-dropped': 'error',
  [CORRUPT_READ_EVENT]: 'error',
  'storage.index.rebuilt': 'info',
  'storage.retention.deleted': 'info',
  // The checkpoint is derived data: rebuilt from the batch headers, nothing lost.
  'storage.leader-epoch.rebuilt': 'warn',
  // Producer state (producer-state-file.ts) is derived data: replayed from the batch headers, nothing lost.
  'storage.producer-state.replayed': 'info',
  'storage.producer-state.rebuilt': 'warn',
  'storage.producer-state.expired': 'info',
  // Asked for (a follower meeting a new leader): the caller decided to drop these records.
  'storage.truncated': 'info',
  'storage.truncate.segment-deleted': 'info',
};

/** The level of `event`; an event not listed is an error when its name says it failed. */
export function storageEventLevel(event: string): StorageEventLevel {
  return LEVELS[event] ?? (/failed|error/.test(event) ? 'error' : 'info');
}
