/**
 * Bounds of request fields: the one place the api table (api-table.ts) and anything else
 * checking them takes its numbers from. Sizes a broker operator tunes (frame bytes, batch
 * bytes, wait caps) are settings in src/config/settings.ts instead.
 */

/** Largest i32: sizes, waits and partition numbers travel as Kafka's INT32. */
export const I32_MAX = 0x7fff_ffff;
/** Largest u32: request ids. */
export const U32_MAX = 0xffff_ffff;
/** Offsets and timestamps are i64 in Kafka; a JavaScript number is exact up to 2^53 - 1. */
export const MAX_OFFSET = Number.MAX_SAFE_INTEGER;
/** Share group and worker ids: non-empty, at most this many characters (also a file-name part of share state). */
export const MAX_ID_CHARS = 255;
/** Records one ShareAcquire may ask for; bounds the work and the response of one request. */
export const MAX_ACQUIRE_RECORDS = 1_000_000;
/**
 * Offsets one ShareAck may name in all; bounds the work of one request (and stays under
 * MAX_REQUEST_VALUES in frame-limits.ts, so the largest legal ack always decodes).
 */
export const MAX_ACK_OFFSETS = 100_000;
/** Cluster mode: how long an acks=all produce waits for the in-sync replicas when the request names no timeoutMs. */
export const DEFAULT_PRODUCE_TIMEOUT_MS = 30_000;
/** The longest timeoutMs a produce may ask for (an acks=all produce holds its request slot while it waits). */
export const MAX_PRODUCE_TIMEOUT_MS = 300_000;
/** Hard cap of a job's progress (ShareProgress), bytes of its JSON text; the broker setting `maxJobProgressBytes` may only lower it. */
export const MAX_JOB_PROGRESS_BYTES = 65_536;
/** Default of the broker setting `maxJobProgressBytes`: a percentage or a small status object, not a payload. */
export const DEFAULT_JOB_PROGRESS_BYTES = 1_024;
/** Held jobs one ShareDescribe may list (describe --jobs). */
export const MAX_DESCRIBE_JOBS = 100_000;
