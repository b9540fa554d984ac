/**
 * The broker's side of cluster mode (docs/cluster.md), and its start-up: the etcd client, this
 * broker's `ClusterNode` (session, registration, view, controller candidacy), the links to
 * other brokers (broker-links.ts) and the route of topic changes to the controller
 * (controller-route.ts). Built by `startCluster` once the broker listens (the advertised URL
 * may need the bound port); absent on a single broker.
 *
 * Start-up fails with a SluiceError whose code says what to fix: INVALID_CONFIG (an `etcd`
 * endpoint that is not host:port; etcd's certificate does not verify, it refused the login or
 * the role lacks the cluster's prefix: etcd-connection.ts), ETCD_UNAVAILABLE (etcd did not answer within
 * etcdConnectWaitMs; retriable), NODE_ID_IN_USE (another live broker holds this node id).
 * Each message names the setting.
 */
import { Etcd3 } from 'etcd3';
import { flagName, type BrokerConfig } from '../config/settings.js';
import { SluiceError } from '../errors.js';
import { ClusterNode } from '../cluster/cluster-node.js';
import { ControllerTracker } from '../cluster/controller-tracker.js';
import { NodeIdInUseError } from '../cluster/errors.js';
import { EtcdMetadataStore } from '../cluster/etcd-metadata-store.js';
import { etcdEndpoints, etcdEndpointsProblem } from '../cluster/etcd-endpoints.js';
import { isEtcdUnreachable } from '../cluster/etcd-unreachable.js';
import type { ReassignmentRequest } from '../cluster/reassignment-admin.js';
import type { ElectLeadersResponse } from '../protocol/api.js';
import type { LinkFactory } from '../replication/types.js';
import type { Logger } from './logger.js';
import { ProducerIdAllocator } from '../cluster/producer-id-blocks.js';
import type { ProducerIdSource } from '../storage/producer-id-counter.js';
import { Failsafe, failsafeWindows } from '../cluster/failsafe.js';
import { performance } from 'node:perf_hooks';
import { BrokerLinks } from './broker-links.js';
import { ControllerRoute } from './controller-route.js';
import { linkTlsOptions, tlsOn } from './tls-files.js';
import { etcdAnswerProblem, etcdClientOptions, etcdTlsProblem } from './etcd-connection.js';
import type { ConnectionOptions } from '../client/connection.js';

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
  /** The controller's automatic preferred-leader checks run here and the elections they wrote (sluice_cluster_leader_imbalance_checks_total, sluice_cluster_auto_leader_elections_total). */
  readonly leaderRebalance: { checks: number; elections: number };
  /** Set when a controlled shutdown begins: produce is refused with NOT_LEADER_OR_FOLLOWER from then on. */
  leaving: boolean;
  /** Producer ids for InitProducerId, unique across the cluster (blocks claimed in etcd). */
  readonly producerIds: ProducerIdSource;
  /** Failsafe mode (cluster/failsafe.ts): the promises this broker gave and the rounds it asked. */
  readonly failsafe: Failsafe;
  /** Starts a partition reassignment on the controller (this broker's, or forwarded to it). */
  reassign(req: ReassignmentRequest): Promise<void>;
  /** Cancels a partition's running reassignment on the controller (this broker's, or forwarded to it). */
  cancelReassignment(topic: string, partition: number): Promise<void>;
  /** Preferred-leader elections on the controller (ControllerRoute.electLeaders): of `partitions`, or of every partition not led by its first replica. */
  electLeaders(partitions: readonly { topic: string; partition: number }[] | undefined): Promise<ElectLeadersResponse['partitions']>;
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
 * Connects to etcd and starts this broker's ClusterNode. Fails with a coded SluiceError naming
 * the setting (see the top of this file): a bad `etcd` value before dialling, etcd silent for
 * etcdConnectWaitMs, or another live broker holding this node id.
 */
export async function startCluster(config: BrokerConfig, boundPort: number, log: Logger): Promise<ClusterRuntime> {
  const nodeId = config.nodeId!;
  // loadConfig checked the value already; a Broker built in code gets the same answer here.
  const problem = etcdEndpointsProblem(config.etcd!);
  if (problem !== undefined) throw new SluiceError('INVALID_CONFIG', `setting 'etcd' (flag --${flagName('etcd')}) ${problem}`);
  const hosts = etcdEndpoints(config.etcd!);
  const client = new Etcd3(await etcdClientOptions(config));
  const advertisedUrl = config.advertisedUrl ?? `${tlsOn(config) ? 'wss' : 'ws'}://${config.host}:${boundPort}`;
  const linkOptions = await linkSecurity(config);
  const leaderElections = { count: 0 };
  const leaderRebalance = { checks: 0, elections: 0 };
  const node = new ClusterNode(client, {
    nodeId, advertisedUrl, clusterName: config.clusterName, sessionTtlMs: config.etcdSessionTtlMs,
    uncleanLeaderElection: config.uncleanLeaderElection,
    log,
    onPartitionChange: (_t, _p, from, to) => { if (from.leader !== to.leader || from.leaderEpoch !== to.leaderEpoch) leaderElections.count++; },
    autoLeaderRebalance: {
      enabled: config.autoLeaderRebalance, intervalMs: config.leaderImbalanceCheckIntervalMs, perBrokerPercentage: config.leaderImbalancePerBrokerPercentage,
      onCheck: (elected) => { leaderRebalance.checks++; leaderRebalance.elections += elected.length; },
    },
  });
  let controller: ControllerTracker | undefined;
  try {
    await reachEtcd(client, config, node.keys.root);
    log.info('cluster.etcd.reachable', { etcd: hosts, nodeId, advertisedUrl });
    await node.start();
    controller = await ControllerTracker.open(client, node.keys);
  } catch (err) {
    await node.stop().catch(() => {}); // the start-up error below is the one to report
    client.close();
    throw startError(err, config);
  }
  const tracker = controller;
  // Watch failures are reported, never thrown: an 'error' event without a listener would end the process.
  tracker.on('error', (err) => { log.warn('cluster.controller.watch-failed', { error: err.message }); });
  node.view.on('error', (err) => { log.error('cluster.view.resync-failed', { error: err.message }); });
  node.view.on('invalid', (key, err) => { log.warn('cluster.view.invalid-value', { key, error: err.message }); });
  node.directory.on('error', (err) => { log.warn('cluster.directory.watch-failed', { error: err.message }); });
  const links = new BrokerLinks(node, linkOptions);
  const route = new ControllerRoute(nodeId, node, tracker, links.link, config.etcdSessionTtlMs);
  const store = new EtcdMetadataStore(node.view, nodeId, route);
  const ctx: ClusterContext = {
    nodeId, node, links: links.link, controller: tracker, store, leaderElections, leaderRebalance, leaving: false, producerIds: new ProducerIdAllocator(client, node.keys),
    failsafe: new Failsafe(failsafeWindows(config.etcdSessionTtlMs), () => performance.now()),
    reassign: (req) => route.reassign(req),
    cancelReassignment: (topic, partition) => route.cancelReassignment(topic, partition),
    electLeaders: (partitions) => route.electLeaders(partitions, log),
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

/** The links' TLS (the broker's CA and its certificate as a client certificate) and login (the inter-broker user). */
async function linkSecurity(config: BrokerConfig): Promise<ConnectionOptions> {
  const tls = await linkTlsOptions(config);
  const out: ConnectionOptions = {};
  if (tls !== undefined) out.tls = tls;
  if (config.auth === 'scram') out.sasl = { username: config.interBrokerUser!, password: config.interBrokerPassword! };
  return out;
}

/**
 * Resolves once etcd answers a read of the cluster's root key (`root`: an etcd role may be
 * limited to the cluster's prefix); rejects naming the `etcd` setting after etcdConnectWaitMs.
 * Fails at once, naming the setting to fix, on an answer no retry changes (a refused login, a
 * role without the prefix) and on a TLS handshake that cannot succeed (etcd-connection.ts).
 */
async function reachEtcd(client: Etcd3, config: BrokerConfig, root: string): Promise<void> {
  const waitMs = etcdConnectWaitMs(config);
  const deadline = Date.now() + waitMs;
  let last: unknown;
  let probed = false;
  while (Date.now() < deadline) {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        client.get(root).exec(),
        new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('no answer')), Math.max(1, Math.min(5000, deadline - Date.now()))); }),
      ]);
      return;
    } catch (err) {
      last = err;
      const answered = etcdAnswerProblem(err, config, root);
      if (answered !== undefined) throw answered;
    } finally {
      clearTimeout(timer);
    }
    if (!probed) {
      probed = true;
      const tls = await etcdTlsProblem(config);
      if (tls !== undefined) throw new SluiceError('INVALID_CONFIG', `cannot connect to etcd (setting 'etcd', flag --${flagName('etcd')}): ${tls}`, { cause: last });
    }
    await new Promise((r) => setTimeout(r, Math.min(500, Math.max(0, deadline - Date.now()))));
  }
  throw new SluiceError('ETCD_UNAVAILABLE', `cannot reach etcd at ${config.etcd} (setting 'etcd', flag --${flagName('etcd')}) within ${waitMs} ms: ${(last as Error | undefined)?.message ?? 'no answer'}`, { cause: last });
}

/**
 * A start-up failure as the coded error an operator acts on, naming the setting: a live broker
 * with this node id (NODE_ID_IN_USE), etcd gone silent after it first answered
 * (ETCD_UNAVAILABLE, retriable). Anything else is passed on as it is.
 */
function startError(err: unknown, config: BrokerConfig): unknown {
  if (err instanceof NodeIdInUseError) {
    return new SluiceError('NODE_ID_IN_USE', `${err.message} (setting 'nodeId', flag --${flagName('nodeId')})`, { cause: err });
  }
  if (isEtcdUnreachable(err)) {
    return new SluiceError('ETCD_UNAVAILABLE', `etcd at ${config.etcd} (setting 'etcd', flag --${flagName('etcd')}) stopped answering during start-up: ${(err as Error).message}`, { cause: err });
  }
  return err;
}

