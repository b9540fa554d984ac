/**
 * Admin: topic management and offset queries. Each call is one request; per-topic
 * failures are raised as BrokerError naming the topic (for the plural calls, the first
 * failure is raised after all results are in, so a partly successful call is visible
 * through listTopics()).
 */
import {
  Api, EARLIEST, LATEST,
  type CreatePartitionsResponse, type CreateTopicsResponse, type DeleteTopicsResponse, type DescribeTopicsResponse,
  type ListOffsetsResponse, type MetadataResponse, type PartitionDescription, type TopicConfig, type TopicResult,
  type VerifyPartitionResult, type VerifyTopicResponse, type PartitionReassignment, type ElectLeadersResponse,
} from '../protocol/api.js';
import { BrokerError, ERRORS, type WireError } from '../protocol/errors.js';
import type { Connection } from './connection.js';
import { InvalidArgumentError } from './errors.js';
import { bootstrapUrls } from './broker-list.js';
import { BrokerPool, needsRefresh, type ClientOptions } from './broker-pool.js';
import type { TopicPartition } from './types.js';
import * as groups from './group-admin.js';
import { withReplication, type PartitionDetails } from './topic-description.js';
import { tpKey } from '../protocol/topic-partition.js';
import { CoordinatorRoute } from './coordinator-route.js';
import { clientLogger, type Logger } from './logger.js';
import { DEFAULT_SCRAM_ITERATIONS, makeCredential, ScramError } from '../protocol/scram.js';
import type { ClientQuotaEntry, ClientQuotaValues } from '../protocol/api.js';
import { quotaEntityKey, type QuotaEntity, type QuotaName } from '../protocol/client-quota.js';

export type { ClientQuotaEntry, ClientQuotaValues, QuotaEntity, QuotaName };
import type { AclBinding } from '../protocol/acl-binding.js';

export type { TopicConfig, PartitionDescription, PartitionDetails, PartitionReassignment };

/** Admin requests go to the first live broker of the bootstrap list (a broker forwards topic changes to the controller). */
export type AdminOptions = ClientOptions;

export interface NewTopic {
  name: string;
  partitions?: number;
  config?: TopicConfig;
  /**
   * Cluster mode: replicas per partition (default min(3, live brokers)); outside 1..live
   * brokers fails with INVALID_REPLICATION_FACTOR. A single broker accepts only 1.
   */
  replicationFactor?: number;
}

/** What `createTopic` takes besides name, partitions and config. */
export type CreateTopicOptions = Pick<NewTopic, 'replicationFactor'>;

export interface TopicInfo {
  name: string;
  partitions: number;
  config: TopicConfig;
}

export interface TopicDescription {
  name: string;
  config: TopicConfig;
  /** In partition order; in cluster mode with leader, leaderEpoch, replicas and isr (topic-description.ts). */
  partitions: PartitionDetails[];
}

/** Where a partition's replicas should be: `replicas` is the target list, preferred leader first. */
export interface PartitionMove extends TopicPartition {
  replicas: readonly number[];
}

export type OffsetSpec = 'earliest' | 'latest' | { timestamp: number | Date };

export interface PartitionOffset extends TopicPartition {
  offset: number;
}

function topicError(name: string, e: WireError, verb: string): BrokerError {
  let msg = e.message;
  if (e.code === ERRORS.UNKNOWN_TOPIC_OR_PARTITION.code) msg = `topic '${name}' does not exist`;
  else if (e.code === ERRORS.TOPIC_ALREADY_EXISTS.code) msg = `topic '${name}' already exists`;
  else msg = `${verb} topic '${name}': ${msg}`;
  return new BrokerError(e.code, msg, { topic: name, ...e.data });
}

function throwUserError(results: { user: string; error?: WireError }[]): void {
  for (const r of results) if (r.error && r.error.code !== 0) throw new BrokerError(r.error.code, `user ${JSON.stringify(r.user)}: ${r.error.message}`, { user: r.user });
}

function throwAclError(bindings: AclBinding[], results: { error?: WireError }[], verb: string): void {
  results.forEach((r, i) => {
    if (r.error && r.error.code !== 0) throw new BrokerError(r.error.code, `${verb} ACL ${JSON.stringify(bindings[i])}: ${r.error.message}`);
  });
}

function throwFirst(results: TopicResult[] | undefined, verb: string): void {
  for (const r of results ?? []) if (r.error && r.error.code !== 0) throw topicError(r.name, r.error, verb);
}

/** Between two asks of a leader that answered OFFSET_NOT_AVAILABLE (a new leader's followers fetch every few hundred ms). */
const OFFSET_NOT_AVAILABLE_BACKOFF_MS = 100;

export class Admin {
  /** The home connection (client/broker-pool.ts); offsets of the log itself are asked of each partition's leader. */
  readonly conn: Connection;
  private readonly pool: BrokerPool;
  private readonly routes = new Map<string, CoordinatorRoute>();
  /** Orders this client's simple commits (resetOffsets) at the coordinator. */
  private readonly committer = new groups.SimpleCommitter();
  private readonly log: Logger;

  constructor(opts: AdminOptions = {}) {
    this.pool = new BrokerPool(bootstrapUrls(opts), opts, opts.connectionFactory);
    this.conn = this.pool.home;
    this.log = clientLogger(opts);
  }

  connect(): Promise<void> {
    return this.conn.connect();
  }

  async createTopics(topics: NewTopic[]): Promise<void> {
    const body = topics.map((t) => ({
      name: t.name, partitions: t.partitions ?? 1,
      ...(t.config ? { config: t.config } : {}),
      ...(t.replicationFactor !== undefined ? { replicationFactor: t.replicationFactor } : {}),
    }));
    const res = await this.conn.request(Api.CreateTopics, { topics: body });
    throwFirst(res.topics, 'create');
  }

  createTopic(name: string, partitions = 1, config?: TopicConfig, options: CreateTopicOptions = {}): Promise<void> {
    return this.createTopics([{ name, partitions, ...(config && { config }), ...options }]);
  }

  async deleteTopics(names: string[]): Promise<void> {
    const res = await this.conn.request(Api.DeleteTopics, { topics: names });
    throwFirst(res.topics, 'delete');
  }

  deleteTopic(name: string): Promise<void> {
    return this.deleteTopics([name]);
  }

  /**
   * Adds a SCRAM-SHA-256 user, or gives an existing one a new password (docs/security.md).
   * The credential is computed here: the password never leaves this process. With auth on,
   * only a super user may (CLUSTER_AUTHORIZATION_FAILED otherwise).
   */
  async upsertUser(name: string, password: string, iterations = DEFAULT_SCRAM_ITERATIONS): Promise<void> {
    let c;
    try {
      c = await makeCredential(password, iterations);
    } catch (err) {
      if (err instanceof ScramError) throw new InvalidArgumentError(`user ${JSON.stringify(name)}: ${err.message}`);
      throw err;
    }
    const res = await this.conn.request(Api.AlterUserScramCredentials, {
      upsertions: [{ name, mechanism: c.mechanism, iterations: c.iterations, salt: c.salt, storedKey: c.storedKey, serverKey: c.serverKey }], deletions: [],
    });
    throwUserError(res.results);
  }

  /** Deletes a user; RESOURCE_NOT_FOUND when there is none. Its open connections stay until they close. */
  async deleteUser(name: string): Promise<void> {
    const res = await this.conn.request(Api.AlterUserScramCredentials, { upsertions: [], deletions: [{ name }] });
    throwUserError(res.results);
  }

  /** Every client quota entry (docs/security.md, "Quotas and limits"), sorted by entity. */
  async describeClientQuotas(): Promise<ClientQuotaEntry[]> {
    return (await this.conn.request(Api.DescribeClientQuotas, {})).entries;
  }

  /**
   * Sets the quotas in `set` and removes those in `remove` on `entity`'s entry (an entry left
   * with none is deleted). Applies at once (in a cluster at every broker). With auth on, only
   * a super user may (CLUSTER_AUTHORIZATION_FAILED otherwise).
   */
  async alterClientQuotas(entity: QuotaEntity, set: ClientQuotaValues, remove: readonly QuotaName[] = []): Promise<void> {
    const res = await this.conn.request(Api.AlterClientQuotas, {
      entries: [{ entityType: entity.type, ...(entity.name !== undefined && { name: entity.name }), ...set, remove: [...remove] }],
    });
    for (const r of res.results) {
      if (r.error && r.error.code !== 0) throw new BrokerError(r.error.code, `quota of ${quotaEntityKey(entity)}: ${r.error.message}`, { entity: quotaEntityKey(entity) });
    }
  }

  /** Every user with its mechanism and iterations, sorted by name (never a key). */
  async listUsers(): Promise<{ name: string; mechanism: string; iterations: number }[]> {
    return (await this.conn.request(Api.DescribeUserScramCredentials, {})).users;
  }

  /**
   * Adds ACL bindings (docs/security.md, "Authorization"); one already there is kept once.
   * With auth on, needs alter on the cluster (CLUSTER_AUTHORIZATION_FAILED otherwise).
   */
  async createAcls(bindings: AclBinding[]): Promise<void> {
    const res = await this.conn.request(Api.CreateAcls, { creations: bindings });
    throwAclError(bindings, res.results, 'add');
  }

  /** Removes ACL bindings, each given exactly; RESOURCE_NOT_FOUND for one that is not there. */
  async deleteAcls(bindings: AclBinding[]): Promise<void> {
    const res = await this.conn.request(Api.DeleteAcls, { deletions: bindings });
    throwAclError(bindings, res.results, 'remove');
  }

  /** The ACL bindings whose fields equal every field `filter` gives (none: all), in a stable order. */
  async describeAcls(filter: Partial<AclBinding> = {}): Promise<AclBinding[]> {
    return (await this.conn.request(Api.DescribeAcls, filter)).acls;
  }

  /** Every topic with its partition count and config, sorted by name. */
  async listTopics(): Promise<TopicInfo[]> {
    const res = await this.conn.request(Api.Metadata, {});
    return res.topics
      .filter((t) => !t.error || t.error.code === 0)
      .map((t) => ({ name: t.name, partitions: t.partitions, config: t.config ?? {} }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /**
   * Config and per-partition log figures (log start, high watermark, size, segments) and,
   * in cluster mode, each partition's leader, leader epoch, replicas and ISR (from Metadata,
   * asked at the same time).
   */
  async describeTopics(names: string[]): Promise<TopicDescription[]> {
    const [res, md] = await Promise.all([
      this.conn.request(Api.DescribeTopics, { topics: names }),
      this.conn.request(Api.Metadata, { topics: names }),
    ]);
    return res.topics.map((t) => {
      if (t.error && t.error.code !== 0) throw topicError(t.name, t.error, 'describe');
      const info = md.topics.find((m) => m.name === t.name)?.partitionInfo;
      return { name: t.name, config: t.config ?? {}, partitions: withReplication(t.partitions, info) };
    });
  }

  /**
   * Has the broker check every stored batch of `name` (CRC, length, offsets), all
   * partitions or those given. The broker reads them at disk speed, so the request may take
   * long: `timeoutMs` (default 10 minutes) bounds it. A partition's own error is in its result.
   */
  async verifyTopic(name: string, partitions?: number[], timeoutMs = 600_000): Promise<VerifyPartitionResult[]> {
    try {
      const res = await this.conn.request(Api.VerifyTopic, { topic: name, ...(partitions ? { partitions } : {}) }, timeoutMs);
      return res.partitions;
    } catch (err) {
      if (err instanceof BrokerError) throw topicError(name, { code: err.wireCode, message: err.message, ...(err.data && { data: err.data }) }, 'verify');
      throw err;
    }
  }

  async describeTopic(name: string): Promise<TopicDescription> {
    const [d] = await this.describeTopics([name]);
    if (!d) throw new BrokerError(ERRORS.UNKNOWN_TOPIC_OR_PARTITION.code, `topic '${name}' does not exist`, { topic: name });
    return d;
  }

  /** Grows `name` to `totalPartitions` (never shrinks). */
  async createPartitions(name: string, totalPartitions: number): Promise<void> {
    const res = await this.conn.request(Api.CreatePartitions, { topics: [{ name, totalPartitions }] });
    throwFirst(res.topics, 'add partitions to');
  }

  /**
   * Cluster mode: moves each partition's replicas to `replicas` (preferred leader first;
   * docs/cluster.md, "Moving data between brokers"). Resolves once the controller recorded
   * every reassignment; they run on after that (`listPartitionReassignments` shows them, and
   * Metadata the new replicas once done). Rejects with the first partition's error
   * (INVALID_REPLICA_ASSIGNMENT naming a bad list, REASSIGNMENT_IN_PROGRESS, UNKNOWN_TOPIC_OR_PARTITION).
   */
  async reassignPartitions(moves: PartitionMove[]): Promise<void> {
    const res = await this.conn.request(Api.AlterPartitionReassignments, { partitions: moves.map((m) => ({ topic: m.topic, partition: m.partition, replicas: [...m.replicas] })) });
    for (const r of res.partitions) {
      if (r.error && r.error.code !== 0) throw new BrokerError(r.error.code, `reassign ${r.topic}-${r.partition}: ${r.error.message}`, { topic: r.topic, partition: r.partition, ...r.error.data });
    }
  }

  /**
   * Cluster mode: cancels each partition's running reassignment (KIP-455): it goes back to its
   * original replicas, the adding ones delete their logs, a leader that had moved outside
   * them hands back. Rejects with the first partition's error (NO_REASSIGNMENT_IN_PROGRESS
   * when none runs or no original replica could lead without loss, UNKNOWN_TOPIC_OR_PARTITION).
   */
  async cancelPartitionReassignments(partitions: TopicPartition[]): Promise<void> {
    const res = await this.conn.request(Api.AlterPartitionReassignments, { partitions: partitions.map((p) => ({ topic: p.topic, partition: p.partition })) });
    for (const r of res.partitions) {
      if (r.error && r.error.code !== 0) throw new BrokerError(r.error.code, `cancel the reassignment of ${r.topic}-${r.partition}: ${r.error.message}`, { topic: r.topic, partition: r.partition, ...r.error.data });
    }
  }

  /**
   * Cluster mode: preferred-leader elections (Kafka's ElectLeaders, preferred): each partition
   * (or, with none named, every partition not led by its first replica) is led by its first
   * replica when that is live and in the ISR. Resolves with one result per partition: the new
   * leader, or the error (ELECTION_NOT_NEEDED, PREFERRED_LEADER_NOT_AVAILABLE naming why);
   * rejects only when the request as a whole failed (no controller reachable).
   */
  async electPreferredLeaders(partitions?: TopicPartition[]): Promise<ElectLeadersResponse['partitions']> {
    const res = await this.conn.request(Api.ElectLeaders, partitions ? { partitions: partitions.map((p) => ({ topic: p.topic, partition: p.partition })) } : {});
    if (res.error && res.error.code !== 0) throw new BrokerError(res.error.code, `elect preferred leaders: ${res.error.message}`, res.error.data);
    return res.partitions;
  }

  /** Cluster mode: the reassignments running now (of `topics`, or all), as the answering broker sees them. */
  async listPartitionReassignments(topics?: string[]): Promise<PartitionReassignment[]> {
    const res = await this.conn.request(Api.ListPartitionReassignments, topics ? { topics } : {});
    return res.reassignments;
  }

  /**
   * Offsets per partition: 'earliest' (log start), 'latest' (log end = high watermark) or
   * the first offset with a timestamp >= the given time (log end when there is none).
   * Pass a topic name for all its partitions, or explicit partitions. A leader that cannot
   * answer yet (OFFSET_NOT_AVAILABLE, right after an election) is asked again for up to the
   * request timeout; then its retriable error is thrown.
   */
  async listOffsets(what: string | TopicPartition[], spec: OffsetSpec = 'latest'): Promise<PartitionOffset[]> {
    let tps: TopicPartition[];
    if (typeof what === 'string') {
      const md = await this.pool.meta.refresh([what]);
      const t = md.topics.find((x) => x.name === what);
      if (!t || (t.error && t.error.code !== 0)) {
        throw topicError(what, t?.error ?? { code: ERRORS.UNKNOWN_TOPIC_OR_PARTITION.code, message: '' }, 'list offsets of');
      }
      tps = Array.from({ length: t.partitions }, (_, partition) => ({ topic: what, partition }));
    } else {
      tps = what;
    }
    let timestamp: number;
    if (spec === 'earliest') timestamp = EARLIEST;
    else if (spec === 'latest') timestamp = LATEST;
    else if (spec && typeof spec === 'object') timestamp = spec.timestamp instanceof Date ? spec.timestamp.getTime() : spec.timestamp;
    else throw new InvalidArgumentError(`offset spec must be 'earliest', 'latest' or {timestamp}`);
    let res = await this.listOffsetsAtLeaders(tps, timestamp);
    // In a cluster whose leaders this Admin did not know yet (explicit partitions) or that just
    // moved: learn them and ask once more.
    if (res.some((r) => r.error && needsRefresh(new BrokerError(r.error.code, r.error.message), this.pool.meta.clustered))) {
      await this.pool.meta.refresh([...new Set(tps.map((tp) => tp.topic))]);
      res = await this.listOffsetsAtLeaders(tps, timestamp);
    }
    // A leader elected moments ago answers OFFSET_NOT_AVAILABLE until its high watermark reaches
    // the start of its epoch (KIP-207: it may still be below what the previous leader answered),
    // usually within one round of its followers' fetches: ask again for up to one request timeout.
    const deadline = Date.now() + this.conn.requestTimeoutMs;
    while (res.some((r) => r.error?.code === ERRORS.OFFSET_NOT_AVAILABLE.code) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, OFFSET_NOT_AVAILABLE_BACKOFF_MS));
      res = await this.listOffsetsAtLeaders(tps, timestamp);
    }
    return res.map((r) => {
      if (r.error && r.error.code !== 0) {
        throw new BrokerError(r.error.code, `list offsets of ${r.topic}/${r.partition}: ${r.error.message}`, r.error.data);
      }
      return { topic: r.topic, partition: r.partition, offset: r.offset };
    });
  }

  /** ListOffsets of `tps`, one request per leader (one to the broker on a single broker); answers in the order of `tps`. */
  private async listOffsetsAtLeaders(tps: TopicPartition[], timestamp: number): Promise<ListOffsetsResponse['partitions']> {
    const out: ListOffsetsResponse['partitions'] = [];
    const groups = this.pool.byLeader(tps, (tp, err) => {
      out.push({ topic: tp.topic, partition: tp.partition, offset: -1, error: { code: ERRORS.NOT_LEADER_OR_FOLLOWER.code, message: err.message } });
    });
    const answers = await Promise.all([...groups].map(([conn, g]) => conn.request(Api.ListOffsets, {
      partitions: g.items.map(({ topic, partition }) => ({ topic, partition, timestamp })),
    })));
    for (const a of answers) out.push(...a.partitions);
    if (groups.size <= 1 && out.length === answers[0]?.partitions.length) return out;
    const at = new Map(tps.map((tp, i) => [tpKey(tp.topic, tp.partition), i]));
    return out.sort((a, b) => (at.get(tpKey(a.topic, a.partition)) ?? 0) - (at.get(tpKey(b.topic, b.partition)) ?? 0));
  }

  // --- consumer groups (group-admin.ts) ---------------------------------------------
  /** Every group: of the one broker, or in a cluster of every live broker (each lists those it coordinates), merged. */
  async listGroups(): Promise<groups.GroupListing[]> {
    // In a cluster each broker lists the groups it coordinates: ask every live broker (as
    // Kafka's admin does). A broker that does not answer fails the call: a partial list
    // would look like a complete one.
    await this.pool.meta.refresh();
    if (!this.pool.meta.clustered) return groups.listGroups(this.conn);
    const lists = await Promise.all(this.pool.meta.brokerUrls().map((url) => groups.listGroups(this.pool.forUrl(url))));
    return groups.mergeGroupListings(lists);
  }

  /**
   * State, epochs, members with partitions, committed offsets with log end and lag, and the
   * coordinating broker (asked with FindCoordinator first).
   */
  async describeGroup(groupId: string): Promise<groups.GroupDescription> {
    const route = this.coordinatorOf(groupId);
    const coordinator = await route.find();
    return { ...(await groups.describeGroup(route, groupId)), coordinator };
  }

  fetchOffsets(groupId: string, partitions?: TopicPartition[]): Promise<groups.CommittedOffset[]> {
    return groups.fetchOffsets(this.coordinatorOf(groupId), groupId, partitions);
  }

  resetOffsets(groupId: string, topic: string, spec: groups.ResetSpec, opts?: { dryRun?: boolean }): Promise<groups.GroupOffsetReset[]> {
    return groups.resetOffsets(this.coordinatorOf(groupId), this, this.committer, groupId, topic, spec, opts);
  }

  /** Refused with NON_EMPTY_GROUP while the group has members. */
  deleteGroup(groupId: string): Promise<void> {
    return groups.deleteGroup(this.coordinatorOf(groupId), groupId);
  }

  /** Group requests go to the group's coordinator (client/coordinator-route.ts); one route per group, kept. */
  private coordinatorOf(groupId: string): CoordinatorRoute {
    let r = this.routes.get(groupId);
    if (!r) this.routes.set(groupId, (r = new CoordinatorRoute(this.pool, groupId, { retryBackoffMs: 200, logger: this.log })));
    return r;
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
