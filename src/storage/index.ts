export * from './types.js';
export * from './errors.js';
export { CorruptBatchError, InvalidTopicError } from '../errors.js';
export { openLogManager, partitionDir, MAX_PARTITIONS, TOPICS_FILE, type LogManagerOptions } from './log-manager.js';
export { DiskPartitionLog, CLEAN_SHUTDOWN_FILE, RECOVERY_POINT_FILE, type PartitionLogOptions, type StorageLogger } from './partition-log.js';
export { validateTopicName } from './topic-name.js';
export { validateLogConfig, effectiveConfig, LOG_CONFIG_KEYS } from './log-config.js';
export { nodeFileSystem, type FileSystem, type StorageFile, type OpenFlags } from './file-system.js';
