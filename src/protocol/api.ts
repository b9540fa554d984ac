/**
 * Request and response shapes of every api. A frame is one msgpackr-encoded map:
 *   request   { id, api, version, ...body }
 *   response  { id, error?, ...body }        (error set only when the whole request failed)
 * `id` is chosen by the client (u32, unique among its in-flight requests) and echoed, so
 * many requests can be in flight on one connection and answered out of order. Record
 * batches are binary fields (msgpack bin), never arrays of objects. Per-partition outcomes
 * carry their own `error` so one bad partition does not fail the rest.
 *
 * Api numbers follow Kafka's api keys where one exists. docs/protocol.md is the prose.
 */
import type { WireError } from './errors.js';

export const Api = {
  Produce: 0,
  Fetch: 1,
  ListOffsets: 2,
  Metadata: 3,
  CreateTopics: 19,
  DeleteTopics: 20,
  DescribeTopics: 75,
  CreatePartitions: 37,
} as const;
export type ApiKey = (typeof Api)[keyof typeof Api];

export const API_NAMES: Record<number, string> = Object.fromEntries(Object.entries(Api).map(([k, v]) => [v, k]));

export interface RequestHeader {
  id: number;
  api: number;
  version: number;
}

export interface ResponseHeader {
  id: number;
  error?: WireError;
}

/** Per-topic settings a client may override; names as in storage LogConfig. */
export interface TopicConfig {
  segmentBytes?: number;
  segmentMs?: number;
  indexIntervalBytes?: number;
  retentionMs?: number;
  retentionBytes?: number;
  flushMessages?: number;
  flushMs?: number;
}

// --- Produce (0) ---------------------------------------------------------------
/** acks: 0 = no response at all, 1 = appended to the log, -1 = appended and fsynced ("all"). */
export interface ProduceRequest extends RequestHeader {
  acks: 0 | 1 | -1;
  partitions: { topic: string; partition: number; records: Uint8Array }[];
}
export interface ProducePartitionResult {
  topic: string;
  partition: number;
  error?: WireError;
  baseOffset?: number;
  logAppendTime?: number;
}
export interface ProduceResponse extends ResponseHeader {
  partitions: ProducePartitionResult[];
}

// --- Fetch (1) -----------------------------------------------------------------
/**
 * Long poll: answered as soon as at least `minBytes` are available across the partitions,
 * or when `maxWaitMs` passes, whichever is first. `maxBytes` caps the whole response; each
 * partition's own `maxBytes` caps that partition (the first batch is always returned whole).
 */
export interface FetchRequest extends RequestHeader {
  maxWaitMs: number;
  minBytes: number;
  maxBytes: number;
  partitions: { topic: string; partition: number; offset: number; maxBytes: number }[];
}
export interface FetchPartitionResult {
  topic: string;
  partition: number;
  error?: WireError;
  highWatermark: number;
  logStartOffset: number;
  /** Stored batches exactly as on disk; may be empty. */
  records: Uint8Array;
}
export interface FetchResponse extends ResponseHeader {
  partitions: FetchPartitionResult[];
}

// --- ListOffsets (2) -------------------------------------------------------------
export const EARLIEST = -2;
export const LATEST = -1;
/** timestamp: EARLIEST (-2), LATEST (-1) or ms since epoch (first offset with timestamp >= it). */
export interface ListOffsetsRequest extends RequestHeader {
  partitions: { topic: string; partition: number; timestamp: number }[];
}
export interface ListOffsetsResponse extends ResponseHeader {
  /** offset is the log end offset when no record is at or after the timestamp. */
  partitions: { topic: string; partition: number; error?: WireError; offset: number }[];
}

// --- Metadata (3) ----------------------------------------------------------------
/** topics omitted: every topic. */
export interface MetadataRequest extends RequestHeader {
  topics?: string[];
}
export interface TopicMetadata {
  name: string;
  error?: WireError;
  partitions: number;
  config: TopicConfig;
}
export interface MetadataResponse extends ResponseHeader {
  brokerVersion: string;
  topics: TopicMetadata[];
}

// --- CreateTopics (19) / DeleteTopics (20) / CreatePartitions (37) ----------------
export interface CreateTopicsRequest extends RequestHeader {
  topics: { name: string; partitions: number; config?: TopicConfig }[];
}
export interface TopicResult {
  name: string;
  error?: WireError;
}
export interface CreateTopicsResponse extends ResponseHeader {
  topics: TopicResult[];
}
export interface DeleteTopicsRequest extends RequestHeader {
  topics: string[];
}
export interface DeleteTopicsResponse extends ResponseHeader {
  topics: TopicResult[];
}
export interface CreatePartitionsRequest extends RequestHeader {
  topics: { name: string; totalPartitions: number }[];
}
export interface CreatePartitionsResponse extends ResponseHeader {
  topics: TopicResult[];
}

// --- DescribeTopics (75) ---------------------------------------------------------
export interface DescribeTopicsRequest extends RequestHeader {
  topics: string[];
}
export interface PartitionDescription {
  partition: number;
  logStartOffset: number;
  highWatermark: number;
  sizeBytes: number;
  segmentCount: number;
}
export interface DescribeTopicsResponse extends ResponseHeader {
  topics: { name: string; error?: WireError; config: TopicConfig; partitions: PartitionDescription[] }[];
}
