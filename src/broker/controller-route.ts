/**
 * Topic changes and reassignments routed to the controller (`TopicChanges` of the etcd
 * metadata store): on the controller they run through its TopicAdmin / ReassignmentAdmin; on
 * any other broker the same request is forwarded to the controller over its link and the
 * controller's answer is returned. With no controller known the change fails with
 * NOT_CONTROLLER (retriable); while etcd does not answer, with ETCD_UNAVAILABLE (retriable).
 */
import { SluiceError } from '../errors.js';
import { Api, type ElectLeadersResponse } from '../protocol/api.js';
import { fromWireError } from '../protocol/errors.js';
import type { ClusterNode } from '../cluster/cluster-node.js';
import type { ControllerTracker } from '../cluster/controller-tracker.js';
import { ControllerFencedError } from '../cluster/errors.js';
import type { TopicChanges } from '../cluster/etcd-metadata-store.js';
import { isEtcdUnreachable } from '../cluster/etcd-unreachable.js';
import type { CreateTopicSpec } from '../cluster/topic-admin.js';
import type { ReassignmentRequest } from '../cluster/reassignment-admin.js';
import { InvalidConfigError } from '../storage/errors.js';
import type { BrokerLink, LinkFactory } from '../replication/types.js';
import { forwardedFrom } from './forwarded-request.js';
import type { Logger } from './logger.js';
import { wireError } from './wire-error.js';

/** Topic changes routed to the controller: this broker's TopicAdmin when it leads, else the controller's link. */
export class ControllerRoute implements TopicChanges {
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

  /** Cancels the partition's running reassignment on the controller (forwarded as AlterPartitionReassignments without replicas). */
  async cancelReassignment(topic: string, partition: number): Promise<void> {
    if (!this.node.isController) {
      const res = await (await this.controllerLink()).request(Api.AlterPartitionReassignments, { partitions: [{ topic, partition }] });
      return throwIfFailed(res.partitions[0]);
    }
    await asController(() => this.node.reassignmentAdmin().cancel(topic, partition));
  }

  /**
   * Preferred-leader elections on the controller (ElectLeaders, forwarded once): of
   * `partitions`, or of every partition whose leader is not its first replica. One result per
   * partition, its error a wire error (ELECTION_NOT_NEEDED, PREFERRED_LEADER_NOT_AVAILABLE,
   * UNKNOWN_TOPIC_OR_PARTITION, ...).
   */
  async electLeaders(partitions: readonly { topic: string; partition: number }[] | undefined, log: Logger): Promise<ElectLeadersResponse['partitions']> {
    if (!this.node.isController) {
      const res = await (await this.controllerLink()).request(Api.ElectLeaders, { ...(partitions ? { partitions: [...partitions] } : {}), forwardedBy: this.nodeId });
      return res.partitions;
    }
    const admin = this.node.reassignmentAdmin();
    const out: ElectLeadersResponse['partitions'] = [];
    for (const { topic, partition } of partitions ?? await asController(() => admin.notPreferred())) {
      try {
        const s = await asController(() => admin.electPreferredLeader(topic, partition));
        out.push({ topic, partition, leader: s.leader });
      } catch (err) {
        out.push({ topic, partition, error: wireError(err, log, { topic, partition }) });
      }
    }
    return out;
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
