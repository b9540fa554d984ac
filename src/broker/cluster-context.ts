/**
 * The broker's side of cluster mode (docs/cluster.md): the etcd client, this broker's
 * `ClusterNode` (session, registration, view, controller candidacy), the links to other
 * brokers, and the route of topic changes to the controller. Built by `startCluster` once the
 * broker listens (the advertised URL may need the bound port); absent on a single broker.
 *
 * Topic changes (`TopicChanges`, used by the etcd metadata store): on the controller they run
 * through its TopicAdmin; on any other broker the same request is forwarded to the controller
 * over its link and the controller's answer is returned. With no controller known the change
 * fails with NOT_CONTROLLER (retriable).
 */
import { Etcd3, GRPCGenericError } from 'etcd3';
import { flagName, type BrokerConfig } from '../config/settings.js';
import { SluiceError } from '../errors.js';
import { Api } from '../protocol/api.js';
import { fromWireError } from '../protocol/errors.js';
import { Connection } from '../client/connection.js';
import { ClusterNode } from '../cluster/cluster-node.js';
import { ControllerTracker } from '../cluster/controller-tracker.js';
import { ControllerFencedError, NodeIdInUseError } from '../cluster/errors.js';
import { EtcdMetadataStore, type TopicChanges } from '../cluster/etcd-metadata-store.js';
import type { CreateTopicSpec } from '../cluster/topic-admin.js';
import type { ReassignmentRequest } from '../cluster/reassignment-admin.js';
import { InvalidConfigError } from '../storage/errors.js';
import type { BrokerLink, LinkFactory } from '../replication/types.js';
import type { Logger } from './logger.js';
import { ProducerIdAllocator } from '../cluster/producer-id-blocks.js';
import { forwardedFrom } from './forwarded-request.js';
import type { ProducerIdSource } from '../storage/producer-id-counter.js';
import { Failsafe, failsafeWindows } from '../cluster/failsafe.js';
import { performance } from 'node:perf_hooks';

export interface ClusterContext {
  readonly nodeId: number;
  readonly node: ClusterNode;
  /** One reused client connection per broker id, URL from the broker directory; closed on stop. */
  readonly links: LinkFactory;
  /** The controller's node id as etcd says now (undefined during an election). */
  readonly controller: ControllerTracker;
  /** Topics in etcd as this broker's view sees them (the metadata store of the placed log manager). */
  readonly store: EtcdMetadataStore;
  /** Partition leader changes this broker wrote while controller (sluice_cluster_leader_elections_total). */
  readonly leaderElections: { count: number };
  /** Set when a controlled shutdown begins: produce is refused with NOT_LEADER_OR_FOLLOWER from then on. */
  leaving: boolean;
  /** Producer ids for InitProducerId, unique across the cluster (blocks claimed in etcd). */
  readonly producerIds: ProducerIdSource;
  /** Failsafe mode (cluster/failsafe.ts): the promises this broker gave and the rounds it asked. */
  readonly failsafe: Failsafe;
  /** Starts a partition reassignment on the controller (this broker's, or forwarded to it). */
  reassign(req: ReassignmentRequest): Promise<void>;
}

/** The running cluster side: its context and how to stop it (after the logs are closed). */
export interface ClusterRuntime {
  readonly ctx: ClusterContext;
  close(): Promise<void>;
}

/** How long start-up waits for etcd to answer before it gives up: twice the session TTL, at least 10 s. */
export function etcdConnectWaitMs(config: BrokerConfig): number {
  return Math.max(10_000, 2 * config.etcdSessionTtlMs);
}

/**
 * Connects to etcd and starts this broker's ClusterNode. Fails with an error naming the
 * setting when etcd does not answer within etcdConnectWaitMs, or when another live broker holds
 * this node id.
 */
export async function startCluster(config: BrokerConfig, boundPort: number, log: Logger): Promise<ClusterRuntime> {
  const nodeId = config.nodeId!;
  const hosts = config.etcd!.split(',').map((h) => h.trim()).filter(Boolean);
  const client = new Etcd3({ hosts, dialTimeout: 5000 });
  const advertisedUrl = config.advertisedUrl ?? `ws://${config.host}:${boundPort}`;
  const leaderElections = { count: 0 };
  const node = new ClusterNode(client, {
    nodeId, advertisedUrl, clusterName: config.clusterName, sessionTtlMs: config.etcdSessionTtlMs,
    uncleanLeaderElection: config.uncleanLeaderElection,
    log,
    onPartitionChange: (_t, _p, from, to) => { if (from.leader !== to.leader || from.leaderEpoch !== to.leaderEpoch) leaderElections.count++; },
  });
  let controller: ControllerTracker | undefined;
  try {
    await reachEtcd(client, config);
    log.info('etcd reachable', { etcd: hosts, nodeId, advertisedUrl });
    await node.start().catch((err: unknown) => {
      if (err instanceof NodeIdInUseError) throw new Error(`${err.message} (setting 'nodeId', flag --${flagName('nodeId')})`, { cause: err });
      throw err;
    });
    controller = await ControllerTracker.open(client, node.keys);
  } catch (err) {
    await node.stop().catch(() => {});
    client.close();
    throw err;
  }
  const tracker = controller;
  // Watch failures are reported, never thrown: an 'error' event without a listener would end the process.
  tracker.on('error', (err) => { log.warn('controller watch failed', { error: err.message }); });
  node.view.on('error', (err) => { log.error('cluster view resync failed', { error: err.message }); });
  node.view.on('invalid', (key, err) => { log.warn('cluster view skipped a value no broker wrote', { key, error: err.message }); });
  node.directory.on('error', (err) => { log.warn('broker directory watch failed', { error: err.message }); });
  const links = new BrokerLinks(node);
  const route = new ControllerRoute(nodeId, node, tracker, links.link, config.etcdSessionTtlMs);
  const store = new EtcdMetadataStore(node.view, nodeId, route);
  const ctx: ClusterContext = {
    nodeId, node, links: links.link, controller: tracker, store, leaderElections, leaving: false, producerIds: new ProducerIdAllocator(client, node.keys),
    failsafe: new Failsafe(failsafeWindows(config.etcdSessionTtlMs), () => performance.now()),
    reassign: (req) => route.reassign(req),
  };
  return {
    ctx,
    async close() {
      store.close();
      await links.close();
      await tracker.close();
      await node.stop();
      client.close();
    },
  };
}

/** Resolves once etcd answers a read; rejects naming the `etcd` setting after etcdConnectWaitMs. */
async function reachEtcd(client: Etcd3, config: BrokerConfig): Promise<void> {
  const waitMs = etcdConnectWaitMs(config);
  const deadline = Date.now() + waitMs;
  let last: unknown;
  while (Date.now() < deadline) {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        client.get('/').exec(),
        new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('no answer')), Math.max(1, Math.min(5000, deadline - Date.now()))); }),
      ]);
      return;
    } catch (err) {
      last = err;
    } finally {
      clearTimeout(timer);
    }
    await new Promise((r) => setTimeout(r, Math.min(500, Math.max(0, deadline - Date.now()))));
  }
  throw new Error(`cannot reach etcd at ${config.etcd} (setting 'etcd', flag --${flagName('etcd')}) within ${waitMs} ms: ${(last as Error | undefined)?.message ?? 'no answer'}`, { cause: last });
}

/** One client Connection per broker id, reopened when that broker registers with another URL. */
class BrokerLinks {
  private readonly open = new Map<number, Connection>();
  private closed = false;

  constructor(private readonly node: ClusterNode) {}

  readonly link: LinkFactory = async (nodeId: number): Promise<BrokerLink> => {
    if (this.closed) throw new SluiceError('NETWORK_ERROR', 'broker links are closed (the broker is stopping)');
    const url = this.node.directory.brokers().get(nodeId)?.url;
    const have = this.open.get(nodeId);
    if (url === undefined) {
      if (have) return have; // not registered right now (restarting?): the old link reconnects if it comes back at the same URL
      throw new SluiceError('NOT_CONTROLLER', `broker ${nodeId} is not registered in etcd: no URL to dial`);
    }
    if (have && have.url === url) return have;
    if (have) void have.close().catch(() => {});
    const conn = new Connection(url);
    this.open.set(nodeId, conn);
    return conn;
  };

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.open.values()];
    this.open.clear();
    await Promise.all(all.map((c) => c.close().catch(() => {})));
  }
}

/** Topic changes routed to the controller: this broker's TopicAdmin when it leads, else the controller's link. */
class ControllerRoute implements TopicChanges {
  constructor(
    private readonly nodeId: number,
    private readonly node: ClusterNode,
    private readonly controller: ControllerTracker,
    private readonly links: LinkFactory,
    /** How long a metadata change may wait for etcd (the session TTL). */
    private readonly boundMs: number,
  ) {}

  async createTopic(spec: CreateTopicSpec): Promise<void> {
    return this.whileEtcdAnswers(`create topic ${spec.name}`, () => this.create(spec));
  }

  async deleteTopic(name: string): Promise<void> {
    return this.whileEtcdAnswers(`delete topic ${name}`, () => this.delete(name));
  }

  async addPartitions(name: string, totalPartitions: number): Promise<void> {
    return this.whileEtcdAnswers(`grow topic ${name}`, () => this.grow(name, totalPartitions));
  }

  /**
   * Runs a metadata change only while etcd answers this broker, and within a bound: while etcd
   * is down (for longer than this broker's own fence point, which a healthy link never reaches)
   * the change fails at once, and one that etcd does not finish within the session TTL fails
   * then, both with ETCD_UNAVAILABLE (retriable), never a hang. A change that timed out may
   * still land once etcd answers again; the retry then sees it (TOPIC_ALREADY_EXISTS).
   */
  private async whileEtcdAnswers(what: string, fn: () => Promise<void>): Promise<void> {
    const silent = this.node.etcdSilentMs();
    const unavailable = (detail: string) => new SluiceError('ETCD_UNAVAILABLE', `cannot ${what}: etcd ${detail} (broker ${this.nodeId}); metadata changes wait until etcd is back; retry`);
    if (silent >= this.node.fenceAfterMs) throw unavailable(`has not answered for ${Math.round(silent)} ms`);
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<never>((_, reject) => {
      timer = setTimeout(() => { reject(unavailable(`did not finish the change within ${this.boundMs} ms`)); }, this.boundMs);
    });
    try {
      await Promise.race([fn(), bound]);
    } catch (err) {
      if (isEtcdUnreachable(err)) throw Object.assign(unavailable(`did not answer: ${(err as Error).message}`), { cause: err });
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  private async create(spec: CreateTopicSpec): Promise<void> {
    if (!this.node.isController) {
      const topic: { name: string; partitions: number; config?: Record<string, number>; replicationFactor?: number } = { name: spec.name, partitions: spec.partitions };
      if (spec.config) topic.config = spec.config as Record<string, number>;
      if (spec.replicationFactor !== undefined) topic.replicationFactor = spec.replicationFactor;
      const res = await (await this.controllerLink()).request(Api.CreateTopics, { topics: [topic], forwardedBy: this.nodeId });
      return throwIfFailed(res.topics[0]);
    }
    // A factor outside 1..live brokers is refused by the placement (INVALID_REPLICATION_FACTOR naming both numbers).
    const rf = spec.replicationFactor ?? Math.min(3, this.node.directory.brokers().size);
    const mir = spec.config?.minInsyncReplicas;
    if (typeof mir === 'number' && mir > rf) {
      throw new InvalidConfigError(`minInsyncReplicas ${mir} is larger than the replication factor ${rf}`);
    }
    await asController(() => this.node.topicAdmin().createTopic({ ...spec, replicationFactor: rf }));
  }

  private async delete(name: string): Promise<void> {
    if (!this.node.isController) {
      const res = await (await this.controllerLink()).request(Api.DeleteTopics, { topics: [name], forwardedBy: this.nodeId });
      return throwIfFailed(res.topics[0]);
    }
    await asController(() => this.node.topicAdmin().deleteTopic(name));
  }

  private async grow(name: string, totalPartitions: number): Promise<void> {
    if (!this.node.isController) {
      const res = await (await this.controllerLink()).request(Api.CreatePartitions, { topics: [{ name, totalPartitions }], forwardedBy: this.nodeId });
      return throwIfFailed(res.topics[0]);
    }
    await asController(() => this.node.topicAdmin().addPartitions(name, totalPartitions));
  }

  async reassign(req: ReassignmentRequest): Promise<void> {
    if (!this.node.isController) {
      const res = await (await this.controllerLink()).request(Api.AlterPartitionReassignments, { partitions: [{ topic: req.topic, partition: req.partition, replicas: [...req.replicas] }] });
      return throwIfFailed(res.partitions[0]);
    }
    await asController(() => this.node.reassignmentAdmin().reassign(req));
  }

  /**
   * The link to the controller. NOT_CONTROLLER when none is known, or when etcd names this
   * broker while it does not lead (an election in progress): forwarding to itself would loop.
   */
  private async controllerLink(): Promise<BrokerLink> {
    const from = forwardedFrom();
    if (from !== undefined) {
      throw new SluiceError('NOT_CONTROLLER', `broker ${this.nodeId} is not the controller (broker ${from} forwarded the request here on a stale view; it is not forwarded again); retry`);
    }
    const id = this.controller.current;
    if (id === undefined || id === this.nodeId) {
      throw new SluiceError('NOT_CONTROLLER', id === undefined ? 'no controller is elected right now; retry' : 'the controller is changing; retry');
    }
    return this.links(id);
  }
}

/**
 * etcd3's failures to reach etcd: its gRPC transport errors (unavailable, deadline, cancelled)
 * and the open circuit breaker of its connection pool (cockatiel's BrokenCircuitError, marked
 * `isBrokenCircuitError`; not imported, cockatiel is etcd3's dependency, not ours).
 */
function isEtcdUnreachable(err: unknown): boolean {
  return err instanceof GRPCGenericError || (err instanceof Error && (err as { isBrokenCircuitError?: unknown }).isBrokenCircuitError === true);
}

/** A controller write refused by its epoch guard means another broker leads now: NOT_CONTROLLER, retriable. */
async function asController<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ControllerFencedError) throw new SluiceError('NOT_CONTROLLER', `${err.message}; retry`, { cause: err });
    throw err;
  }
}

function throwIfFailed(r: { error?: { code: number; message: string } } | undefined): void {
  if (r === undefined) throw new SluiceError('UNKNOWN_SERVER_ERROR', 'the controller answered without a result');
  if (r.error && r.error.code !== 0) throw fromWireError(r.error);
}
