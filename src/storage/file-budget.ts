/**
 * How many segment files the broker keeps open (the OpenFileCache's capacity), from the
 * `maxOpenSegmentFiles` setting and the process's file limit (RLIMIT_NOFILE).
 *
 * Why half the limit by default: every connection is a descriptor too, and so are etcd's
 * and the HTTP listener's sockets and the files storage opens briefly (index writes, atomic
 * metadata files, directory fsyncs). Half leaves 2,048 of a 4,096 limit for those, and a
 * broker with a high limit (systemd's 524,288) keeps practically every segment open, as
 * Kafka does. An explicit setting that leaves fewer than RESERVED_FDS descriptors for
 * everything else is refused at start-up: EMFILE would then hit connections, where the
 * cache cannot help.
 */
import { readFileSync } from 'node:fs';

/** Descriptors an explicit maxOpenSegmentFiles must leave for connections and other files. */
export const RESERVED_FDS = 256;
/** The smallest useful budget: a few partitions' active segments at once. */
export const MIN_OPEN_SEGMENT_FILES = 16;
/** The budget when the limit cannot be read (not Linux): what a 2,048 limit would give. */
export const UNKNOWN_LIMIT_BUDGET = 1024;
/** Below this limit the broker warns at start-up: a busy broker may run out for connections. */
export const LOW_FILE_LIMIT = 1024;

export interface FileBudget {
  /** Segment files kept open (the cache's capacity). */
  capacity: number;
  /** The process's soft file limit, or null when unknown. */
  limit: number | null;
  /** Said at start-up (warn) when set. */
  warning?: string;
}

/**
 * The budget for `setting` (0 = auto: half the limit) under the process limit `limit`
 * (null = unknown). Throws a RangeError naming both numbers when an explicit setting does not
 * fit under the limit.
 */
export function segmentFileBudget(setting: number, limit: number | null): FileBudget {
  if (setting > 0) {
    if (limit !== null && setting > limit - RESERVED_FDS) {
      throw new RangeError(`maxOpenSegmentFiles ${setting} does not fit under the process's file limit ${limit} `
        + `(at least ${RESERVED_FDS} descriptors must stay free for connections and other files): `
        + `lower it to at most ${Math.max(0, limit - RESERVED_FDS)}, set it to 0 (half the limit), or raise the limit (ulimit -n, systemd LimitNOFILE)`);
    }
    return { capacity: setting, limit };
  }
  if (limit === null) return { capacity: UNKNOWN_LIMIT_BUDGET, limit };
  const capacity = Math.max(MIN_OPEN_SEGMENT_FILES, Math.floor(limit / 2));
  if (limit < LOW_FILE_LIMIT) {
    return {
      capacity, limit,
      warning: `the process's file limit is ${limit}: ${capacity} segment files are kept open and the rest is left for connections; `
        + `raise the limit (ulimit -n, systemd LimitNOFILE) to at least ${LOW_FILE_LIMIT} for a broker with many partitions or connections`,
    };
  }
  return { capacity, limit };
}

/** The soft RLIMIT_NOFILE of this process (Node raises it to the hard limit at start), from /proc on Linux; null elsewhere. */
export function processFileLimit(readLimits: () => string = () => readFileSync('/proc/self/limits', 'utf8')): number | null {
  let text: string;
  try {
    text = readLimits();
  } catch {
    return null;
  }
  const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(text);
  if (!m) return null;
  return m[1] === 'unlimited' ? null : Number(m[1]);
}
