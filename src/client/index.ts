/**
 * Public surface of the `sluice` package: what applications import. Internal modules
 * (connection, accumulator, decoder) stay unexported so they can change freely.
 */
export { Producer, DEFAULT_BROKER, type ProducerOptions } from './producer.js';
export { Consumer, type ConsumerOptions, type OffsetReset, type SeekTarget, type Batch, type RunOptions } from './consumer.js';
export {
  Admin, type AdminOptions, type NewTopic, type TopicInfo, type TopicDescription, type OffsetSpec, type PartitionOffset,
  type TopicConfig, type PartitionDescription, type PartitionDetails, type CreateTopicOptions, type PartitionMove, type PartitionReassignment,
} from './admin.js';
export { QueueConsumer, type QueueConsumerOptions, type QueueCloseOptions, type JobContext } from './queue-consumer.js';
export { Job, JobSettledError, type ReleaseOptions } from './queue-job.js';
export { QueueAdmin, type ShareGroupDescription, type ShareOffsetReset, type ShareResetTo, type CancelTarget, type ShareCancelPartitionResult } from './queue-admin.js';
export type { ShareGroupSettings } from '../protocol/api.js';
export type { GroupListing, CommittedOffset, ResetSpec, GroupOffsetReset, GroupDescription } from './group-admin.js';
export type { GroupConsumerOptions } from './group-options.js';
export type { ConnectionOptions, ClientTlsOptions } from './connection.js';
export type { SaslCredentials } from './sasl-login.js';
export { SILENT_LOGGER, type Logger, type LogFn, type LoggerOptions } from './logger.js';
export type { Acks, Bytes, Message, ProducerMessage, RecordHeader, SendResult, TopicPartition } from './types.js';
export { murmur2, toPositive } from './murmur2.js';
export { partitionForKey } from './partitioner.js';
export { SluiceError } from '../errors.js';
export { BrokerError, ERRORS, type ErrorName } from '../protocol/errors.js';
export { NetworkError, RequestTimeoutError, ClientClosedError, InvalidArgumentError, MessageTooLargeError } from './errors.js';
export type { BrokerLimits } from '../protocol/broker-limits.js';
export type { AclBinding, AclOperation, ResourceType, PatternType, Permission } from '../protocol/acl-binding.js';
