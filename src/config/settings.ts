/**
 * Every broker setting: its key, type, range and meaning. The one list that the file
 * loader, the SLUICE_* environment reader and the CLI flags are all generated from, so a
 * setting added here is settable all three ways. Defaults live in config/default.json.
 *
 * Keys are dotted paths into the JSON file (`log.segmentBytes`); the environment name is
 * SLUICE_ + UPPER_SNAKE of the path (SLUICE_LOG_SEGMENT_BYTES) and the flag is its
 * kebab-case (--log-segment-bytes).
 *
 * A default has one source: config/default.json, or, for a setting whose module also runs
 * without the broker's config (storage's log defaults and producer-id expiry, the share group
 * defaults of queue mode; tests, benches and embedders rely on them), that module's constant, named here as `default`. The
 * loader refuses a defaults file that sets one of those, so the two cannot drift apart.
 */
import { DEFAULT_LOG_CONFIG, type LogConfig } from '../storage/types.js';
import { DEFAULT_PRODUCER_ID_EXPIRATION_MS } from '../storage/partition-log.js';
import { DEFAULT_JOB_PROGRESS_BYTES, MAX_JOB_PROGRESS_BYTES } from '../protocol/limits.js';
import { MAX_PARTITIONS } from '../storage/log-manager.js';
import { DEFAULT_SHARE_GROUP_CONFIG, SHARE_CONFIG_RANGES } from '../queue/share-config.js';
import type { ShareGroupConfig } from '../queue/types.js';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
/** `auto` = `pretty` when stdout is a terminal, else `json` (one JSON object per line). */
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];
/** `none`: anyone who reaches the port is served (the default); `scram`: SASL/SCRAM-SHA-256 first (docs/security.md). */
export const AUTH_MODES = ['none', 'scram'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

export interface BrokerConfig {
  dataDir: string;
  host: string;
  port: number;
  logLevel: LogLevel;
  logFormat: LogFormat;
  /** Serve Prometheus metrics at GET /metrics; false removes the route and records nothing. */
  metrics: boolean;
  /** A second HTTP port serving only /metrics (0 = any free port); -1 = none, /metrics is on `port`. */
  metricsPort: number;
  /** Largest WebSocket message accepted; bigger ones close the connection with 1009. */
  maxFrameBytes: number;
  /** Largest record set accepted for one partition in a Produce; bigger -> MESSAGE_TOO_LARGE. */
  maxBatchBytes: number;
  /** Bytes of a request besides its binary fields (record batches); more closes the connection (1009). */
  maxRequestMsgpackBytes: number;
  maxInFlightPerConnection: number;
  /** Response bytes (fetched records reserved or unsent) a connection may hold before the broker stops reading from it. */
  maxBufferedBytesPerConnection: number;
  /** The same across all connections: past it, fetches wait for room before reading. */
  maxBufferedBytes: number;
  /** Cap on a Fetch's maxWaitMs. */
  maxFetchWaitMs: number;
  autoCreateTopics: boolean;
  /** Partitions of an auto-created topic. */
  defaultPartitions: number;
  /** How long a graceful shutdown waits for in-flight requests before closing anyway. */
  shutdownTimeoutMs: number;
  /** WebSocket ping period; a client silent for a whole period is disconnected. 0 = no pings. */
  pingIntervalMs: number;
  /** Defaults for every topic's log; a topic's own config overrides them. */
  log: LogConfig;
  /** Consumer groups (docs/groups.md). */
  group: GroupSettings;
  /** Defaults for share groups (queue mode, docs/queue.md); a group's first acquire may override them. */
  share: ShareDefaults;
  /** This broker's id in a cluster (unique, required with `etcd`). */
  nodeId?: number;
  /** etcd endpoints, comma-separated; set = cluster mode (docs/cluster.md), absent = a single broker. */
  etcd?: string;
  /** The URL clients and other brokers dial for this broker; default ws://host:port as bound. */
  advertisedUrl?: string;
  /** Prefix of every etcd key of this cluster, so several clusters can share one etcd. */
  clusterName: string;
  /** TTL of the broker's etcd lease: a broker silent this long is dead to the cluster. */
  etcdSessionTtlMs: number;
  /** A follower not caught up with its leader for this long leaves the in-sync replicas. */
  replicaLagTimeMs: number;
  /** Elect a leader outside the ISR when no in-sync replica is alive (may lose acknowledged records). */
  uncleanLeaderElection: boolean;
  /** The controller moves leaderships back to preferred replicas on its own (Kafka's auto.leader.rebalance.enable). */
  autoLeaderRebalance: boolean;
  /** How often the controller checks the leader imbalance (Kafka's leader.imbalance.check.interval.seconds). */
  leaderImbalanceCheckIntervalMs: number;
  /** Above this share (percent) of a broker's preferred partitions led elsewhere, the check moves them back (Kafka's leader.imbalance.per.broker.percentage). */
  leaderImbalancePerBrokerPercentage: number;
  /** An idempotent producer idle this long is forgotten by each partition (Kafka's producer.id.expiration.ms). */
  producerIdExpirationMs: number;
  /** Bytes/s this broker fetches for replicas a reassignment adds here (not for in-sync followers); 0: unlimited. */
  reassignmentThrottleBytesPerSec: number;
  /** Queue mode: largest progress a worker may report on a job (job.progress), bytes of its JSON text. */
  maxJobProgressBytes: number;
  /** Segment files kept open at once (an LRU closes idle ones); 0 = half the process's file limit (storage/file-budget.ts). */
  maxOpenSegmentFiles: number;
  /** TLS on the listener (docs/security.md): set certFile and keyFile to serve wss:// and https://. */
  tls: TlsSettings;
  /** Authentication of every connection (docs/security.md). */
  auth: AuthMode;
  /** A connection that has not authenticated this long after it opened is closed (auth scram). */
  authTimeoutMs: number;
  /** Cap of the delay a failed login's answer gets; the delay doubles per failure from one address. */
  authFailureDelayMaxMs: number;
  /** Users (comma-separated) who may do everything but read or write internal topics, whatever the ACLs (docs/security.md). */
  superUsers?: string;
  /** Cluster mode with auth scram: the user this broker logs in as to the other brokers (replica fetches, forwarded requests). */
  interBrokerUser?: string;
  /** That user's password; every broker of the cluster has the same. */
  interBrokerPassword?: string;
  /** Cluster mode: PEM CA bundle etcd's certificate must chain to; set = the etcd connection uses TLS (docs/security.md). */
  etcdCaFile?: string;
  /** Cluster mode: PEM client certificate (with etcdKeyFile) this broker presents to etcd (etcd's --client-cert-auth). */
  etcdCertFile?: string;
  etcdKeyFile?: string;
  /** Cluster mode: etcd's own user (etcd auth enabled), with etcdPassword. */
  etcdUser?: string;
  etcdPassword?: string;
  /** Open connections this broker accepts in all; 0: no limit (docs/security.md, "Quotas and limits"). */
  maxConnections: number;
  /** Open connections from one IP address; 0: no limit. */
  maxConnectionsPerIp: number;
  /** New connections per second from one IP address (a burst of as many); 0: no limit. */
  maxConnectionCreationRatePerIp: number;
  /** Close a connection with nothing in flight or bound to it for this long; 0: never. */
  connectionsMaxIdleMs: number;
}

export interface TlsSettings {
  /** PEM certificate chain of this broker; with keyFile, turns TLS on. */
  certFile?: string;
  keyFile?: string;
  /** PEM CA bundle: the CA client certificates must chain to, and the CA this broker trusts when it dials other brokers. */
  caFile?: string;
  /** Refuse clients without a certificate signed by caFile. */
  requireClientCert: boolean;
  /** Serve metricsPort over https with this certificate too; false: plain http (a scraper on a private network). */
  metricsPort: boolean;
}

/** The share group settings a broker sets defaults for: the queue's own fields, not a copy. */
export type ShareDefaults = Pick<ShareGroupConfig, 'visibilityTimeoutMs' | 'maxDeliveries' | 'retryBackoffMs' | 'retryBackoffMaxMs' | 'sessionTimeoutMs' | 'maxWindow'>;

export interface GroupSettings {
  sessionTimeoutMs: number;
  minSessionTimeoutMs: number;
  maxSessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  /** Interval told to members while their group is rebalancing (not Stable). */
  reconcileHeartbeatIntervalMs: number;
  offsetsRetentionMs: number;
}

export type SettingType =
  | { kind: 'string' }
  | { kind: 'int'; min: number; max: number }
  | { kind: 'bool' }
  | { kind: 'enum'; values: readonly string[] };

export interface Setting {
  key: string;
  type: SettingType;
  description: string;
  /** May be left unset (no default in config/default.json): the config field is then absent. */
  optional?: true;
  /** The default, when the module that enforces the setting owns it (then config/default.json must not set it). */
  default?: number;
  /** The command-line flag, when not the kebab-case of the key (`tls.certFile` is `--tls-cert`). */
  flag?: string;
  /** A secret: never printed (a config dump, an error message) with its value. */
  secret?: true;
}

const MAX = Number.MAX_SAFE_INTEGER;
const I32 = 0x7fff_ffff;
const int = (min: number, max: number): SettingType => ({ kind: 'int', min, max });
/** A share.* default has the range a share group's own setting has (queue/share-config.ts). */
const shareRange = (field: keyof typeof SHARE_CONFIG_RANGES): SettingType => int(SHARE_CONFIG_RANGES[field][0], SHARE_CONFIG_RANGES[field][1]);

export const SETTINGS: readonly Setting[] = [
  { key: 'dataDir', type: { kind: 'string' }, description: 'directory holding topics and logs' },
  { key: 'host', type: { kind: 'string' }, description: 'address to listen on' },
  { key: 'port', type: int(0, 65535), description: 'port to listen on (0 = any free port)' },
  { key: 'logLevel', type: { kind: 'enum', values: LOG_LEVELS }, description: 'least severe log level printed' },
  { key: 'logFormat', type: { kind: 'enum', values: LOG_FORMATS }, description: 'log lines as json, pretty text, or auto (pretty on a terminal)' },
  { key: 'metrics', type: { kind: 'bool' }, description: 'serve Prometheus metrics at GET /metrics' },
  { key: 'metricsPort', type: int(-1, 65535), description: 'extra port serving only /metrics (-1 = none, 0 = any free port)' },
  { key: 'maxFrameBytes', type: int(1024, 2 ** 31), description: 'largest WebSocket message accepted' },
  { key: 'maxBatchBytes', type: int(61, I32), description: 'largest record set per partition in a produce' },
  { key: 'maxRequestMsgpackBytes', type: int(1024, I32), description: 'bytes of a request besides its binary fields (headers, names, numbers)' },
  { key: 'maxInFlightPerConnection', type: int(1, 1 << 20), description: 'requests a connection may have in flight' },
  { key: 'maxBufferedBytesPerConnection', type: int(1024, MAX), description: 'response bytes held for one connection (fetched or queued) before reading it pauses' },
  { key: 'maxBufferedBytes', type: int(1024, MAX), description: 'response bytes held across all connections before fetches wait' },
  { key: 'maxFetchWaitMs', type: int(0, I32), description: 'cap on a fetch long poll' },
  { key: 'autoCreateTopics', type: { kind: 'bool' }, description: 'create unknown topics on first produce' },
  { key: 'defaultPartitions', type: int(1, MAX_PARTITIONS), description: 'partitions of an auto-created topic' },
  { key: 'shutdownTimeoutMs', type: int(0, I32), description: 'wait for in-flight requests on shutdown' },
  { key: 'pingIntervalMs', type: int(0, I32), description: 'ping each connection this often; close one that sent nothing (no pong) for a whole interval (0 = off)' },
  { key: 'group.sessionTimeoutMs', type: int(1, I32), description: 'consumer group member removed after this long without a heartbeat (default for members that ask for none)' },
  { key: 'group.minSessionTimeoutMs', type: int(1, I32), description: 'smallest session timeout a member may ask for' },
  { key: 'group.maxSessionTimeoutMs', type: int(1, I32), description: 'largest session timeout a member may ask for' },
  { key: 'group.heartbeatIntervalMs', type: int(1, I32), description: 'how often group members are told to heartbeat' },
  { key: 'group.reconcileHeartbeatIntervalMs', type: int(1, I32), description: 'heartbeat interval told to a member with a revocation or hand-over pending' },
  { key: 'group.offsetsRetentionMs', type: int(1, MAX), description: 'committed offsets of an empty group expire this long after it became empty' },
  { key: 'log.segmentBytes', type: int(1024, MAX), default: DEFAULT_LOG_CONFIG.segmentBytes, description: 'roll a segment at this size' },
  { key: 'log.segmentMs', type: int(1, MAX), default: DEFAULT_LOG_CONFIG.segmentMs, description: 'roll a segment at this age' },
  { key: 'log.indexIntervalBytes', type: int(1, I32), default: DEFAULT_LOG_CONFIG.indexIntervalBytes, description: 'bytes between sparse index entries' },
  { key: 'log.retentionMs', type: int(-1, MAX), default: DEFAULT_LOG_CONFIG.retentionMs, description: 'delete segments older than this (-1 = keep)' },
  { key: 'log.retentionBytes', type: int(-1, MAX), default: DEFAULT_LOG_CONFIG.retentionBytes, description: 'delete oldest segments beyond this size (-1 = no limit)' },
  { key: 'log.flushMessages', type: int(-1, MAX), default: DEFAULT_LOG_CONFIG.flushMessages, description: 'fsync every N messages (-1 = off)' },
  { key: 'log.flushMs', type: int(-1, MAX), default: DEFAULT_LOG_CONFIG.flushMs, description: 'fsync at least this often (-1 = off)' },
  { key: 'share.visibilityTimeoutMs', type: shareRange('visibilityTimeoutMs'), default: DEFAULT_SHARE_GROUP_CONFIG.visibilityTimeoutMs, description: 'queue mode: lock time of an acquired record' },
  { key: 'share.maxDeliveries', type: shareRange('maxDeliveries'), default: DEFAULT_SHARE_GROUP_CONFIG.maxDeliveries, description: 'queue mode: deliveries before a record goes to the dead-letter topic' },
  { key: 'share.retryBackoffMs', type: shareRange('retryBackoffMs'), default: DEFAULT_SHARE_GROUP_CONFIG.retryBackoffMs, description: 'queue mode: delay before a failed record is offered again (doubles per attempt)' },
  { key: 'share.retryBackoffMaxMs', type: shareRange('retryBackoffMaxMs'), default: DEFAULT_SHARE_GROUP_CONFIG.retryBackoffMaxMs, description: 'queue mode: cap on that delay' },
  { key: 'share.sessionTimeoutMs', type: shareRange('sessionTimeoutMs'), default: DEFAULT_SHARE_GROUP_CONFIG.sessionTimeoutMs, description: 'queue mode: a silent worker is removed after this long' },
  { key: 'share.maxWindow', type: shareRange('maxWindow'), default: DEFAULT_SHARE_GROUP_CONFIG.maxWindow, description: 'queue mode: records tracked per share-partition past the group\'s position (how far it reads past a job in flight or delayed)' },
  { key: 'maxJobProgressBytes', type: int(2, MAX_JOB_PROGRESS_BYTES), default: DEFAULT_JOB_PROGRESS_BYTES, description: 'queue mode: largest progress (JSON text) a worker may report on a job' },
  { key: 'maxOpenSegmentFiles', type: int(0, I32), description: 'segment files kept open at once; idle ones are closed and reopened on demand (0 = half the process\'s file limit)' },
  { key: 'nodeId', type: int(0, I32), optional: true, description: 'cluster mode: this broker\'s unique node id (required with --etcd)' },
  { key: 'etcd', type: { kind: 'string' }, optional: true, description: 'cluster mode: etcd endpoints, comma-separated (unset = a single broker)' },
  { key: 'advertisedUrl', type: { kind: 'string' }, optional: true, description: 'cluster mode: URL clients and brokers dial for this broker (default ws://host:port)' },
  { key: 'clusterName', type: { kind: 'string' }, description: 'cluster mode: prefix of this cluster\'s etcd keys' },
  { key: 'etcdSessionTtlMs', type: int(1000, 600_000), description: 'cluster mode: etcd lease TTL; a broker silent this long is dead to the cluster' },
  { key: 'replicaLagTimeMs', type: int(100, I32), description: 'cluster mode: a follower not caught up for this long leaves the in-sync replicas' },
  { key: 'producerIdExpirationMs', type: int(1, MAX), default: DEFAULT_PRODUCER_ID_EXPIRATION_MS, description: 'idempotent producers idle this long are forgotten; their next batch must start a new sequence' },
  { key: 'uncleanLeaderElection', type: { kind: 'bool' }, description: 'cluster mode: elect an out-of-sync replica when no in-sync one lives (may lose acknowledged records)' },
  { key: 'autoLeaderRebalance', type: { kind: 'bool' }, description: 'cluster mode: the controller moves leaderships back to the preferred (first) replica when it is in sync and its broker\'s imbalance is above leaderImbalancePerBrokerPercentage' },
  { key: 'leaderImbalanceCheckIntervalMs', type: int(100, I32), description: 'cluster mode: how often the controller checks the leader imbalance' },
  { key: 'leaderImbalancePerBrokerPercentage', type: int(0, 100), description: 'cluster mode: a broker\'s partitions led elsewhere, percent of those it is the preferred replica of, above which the check moves them back' },
  { key: 'reassignmentThrottleBytesPerSec', type: int(0, MAX), description: 'cluster mode: bytes/s a broker fetches for replicas a reassignment adds to it (in-sync followers are never throttled); 0 = unlimited' },
  { key: 'tls.certFile', type: { kind: 'string' }, optional: true, flag: 'tls-cert', description: 'PEM certificate (chain) of this broker; with tls.keyFile the listener is wss:// and https://; reloaded on SIGHUP' },
  { key: 'tls.keyFile', type: { kind: 'string' }, optional: true, flag: 'tls-key', description: 'PEM private key of tls.certFile' },
  { key: 'tls.caFile', type: { kind: 'string' }, optional: true, flag: 'tls-ca', description: 'PEM CA bundle: verifies client certificates, and the brokers this one dials' },
  { key: 'tls.requireClientCert', type: { kind: 'bool' }, description: 'refuse TLS clients without a certificate signed by tls.caFile' },
  { key: 'tls.metricsPort', type: { kind: 'bool' }, flag: 'tls-metrics-port', description: 'serve metricsPort over https with tls.certFile (else plain http); needs TLS on and metricsPort set' },
  { key: 'auth', type: { kind: 'enum', values: AUTH_MODES }, description: 'none: serve anyone who reaches the port; scram: SASL/SCRAM-SHA-256 login first' },
  { key: 'authTimeoutMs', type: int(100, 600_000), description: 'auth scram: close a connection not authenticated this long after it opened' },
  { key: 'authFailureDelayMaxMs', type: int(0, 600_000), description: 'auth scram: cap of the delay before a failed login is answered (doubles per failure from one address)' },
  { key: 'superUsers', type: { kind: 'string' }, optional: true, description: 'auth scram: users (comma-separated) who may do everything, whatever the ACLs (but read or write internal topics)' },
  { key: 'interBrokerUser', type: { kind: 'string' }, optional: true, description: 'cluster mode, auth scram: the user brokers log in as to each other' },
  { key: 'interBrokerPassword', type: { kind: 'string' }, optional: true, secret: true, description: 'cluster mode, auth scram: that user\'s password (the same on every broker)' },
  { key: 'etcdCaFile', type: { kind: 'string' }, optional: true, description: 'cluster mode: PEM CA bundle that etcd\'s certificate must chain to; set, the etcd connection uses TLS (endpoints https://)' },
  { key: 'etcdCertFile', type: { kind: 'string' }, optional: true, description: 'cluster mode: PEM client certificate this broker presents to etcd (etcd --client-cert-auth); needs etcdKeyFile and etcdCaFile' },
  { key: 'etcdKeyFile', type: { kind: 'string' }, optional: true, description: 'cluster mode: PEM private key of etcdCertFile' },
  { key: 'etcdUser', type: { kind: 'string' }, optional: true, description: 'cluster mode: etcd\'s own user (etcd auth enabled); needs etcdPassword' },
  { key: 'etcdPassword', type: { kind: 'string' }, optional: true, secret: true, description: 'cluster mode: that etcd user\'s password (prefer the environment variable or the config file to the flag: a flag shows in ps)' },
  { key: 'maxConnections', type: int(0, I32), description: 'open connections accepted in all; more are refused (close 1013); 0 = no limit' },
  { key: 'maxConnectionsPerIp', type: int(0, I32), description: 'open connections accepted from one IP address; more are refused (close 1013); 0 = no limit' },
  { key: 'maxConnectionCreationRatePerIp', type: int(0, I32), description: 'new connections per second from one IP address (bursts of as many); faster ones are refused (close 1013); 0 = no limit' },
  { key: 'connectionsMaxIdleMs', type: int(0, I32), description: 'close a connection with nothing in flight or bound to it (no long poll, share worker or group member) for this long; 0 = never' },
];

export const SETTINGS_BY_KEY: ReadonlyMap<string, Setting> = new Map(SETTINGS.map((s) => [s.key, s]));

/** `log.segmentBytes` -> `SLUICE_LOG_SEGMENT_BYTES`. */
export function envName(key: string): string {
  return `SLUICE_${key.replace(/\./g, '_').replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()}`;
}

/** `log.segmentBytes` -> `log-segment-bytes` (or the setting's own `flag`). */
export function flagName(key: string): string {
  const own = SETTINGS_BY_KEY.get(key)?.flag;
  if (own !== undefined) return own;
  return key.replace(/\./g, '-').replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
}

export function describeType(t: SettingType): string {
  switch (t.kind) {
    case 'string': return 'a string';
    case 'bool': return 'true or false';
    case 'int': return `an integer in ${t.min}..${t.max}`;
    case 'enum': return `one of ${t.values.join(', ')}`;
  }
}
