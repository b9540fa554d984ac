/** Pieces of the share-group (queue mode) cluster tests: where a group is coordinated, and a topic to work. */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { Producer } from '../../src/client/producer.js';
import { QueueAdmin } from '../../src/client/queue-admin.js';
import { SluiceError } from '../../src/errors.js';
import { Api } from '../../src/protocol/api.js';
import type { BrokerCluster } from './broker-cluster.js';
import { until } from './cluster-helpers.js';

/**
 * The node id of the broker coordinating share group `group`: FindCoordinator (keyType 'share')
 * at `nodeId` (default: the first running broker), retried while `__share_state` is created or
 * the group's partition has no leader (a failover under way).
 */
export async function findShareCoordinator(cluster: BrokerCluster, group: string, nodeId?: number): Promise<{ nodeId: number; url?: string }> {
  return until(async () => {
    const at = nodeId ?? cluster.brokers.find((b) => b.running)!.nodeId;
    try {
      const res = await cluster.request(at, Api.FindCoordinator, { key: group, keyType: 'share' });
      return res.nodeId > 0 ? res : undefined;
    } catch (err) {
      if (err instanceof SluiceError && err.retriable) return undefined;
      throw err;
    }
  }, 60_000, `FindCoordinator(share ${group})${nodeId === undefined ? '' : ` at broker ${nodeId}`}`);
}

/**
 * Creates `name` with `partitions` partitions, replicated on all three brokers; resolves once
 * every running broker's view names a leader for each (a share coordinator reads through it).
 */
export async function createReplicatedTopic(cluster: BrokerCluster, name: string, partitions: number): Promise<void> {
  const created = await cluster.request(1, Api.CreateTopics, { topics: [{ name, partitions, replicationFactor: 3 }] });
  assert.equal(created.topics[0]!.error?.code ?? 0, 0, JSON.stringify(created.topics[0]));
  for (const b of cluster.brokers.filter((x) => x.running)) {
    await until(async () => {
      const t = (await cluster.metadata(b.nodeId, [name]).catch(() => undefined))?.topics[0];
      return t && !t.error && t.partitionInfo?.length === partitions && t.partitionInfo.every((p) => p.leader > 0) ? true : undefined;
    }, 30_000, `leaders for every partition of ${name} at broker ${b.nodeId}`);
  }
}

/** `urls` with the coordinator's first: workers then talk to it, so its SIGKILL hits the broker they use. */
export function coordinatorFirst(cluster: BrokerCluster, coordinator: number): string[] {
  const first = cluster.broker(coordinator).url;
  return [first, ...cluster.brokers.map((b) => b.url).filter((u) => u !== first)];
}

/**
 * SIGKILLs the broker coordinating `group`; resolves with its id, when it was killed and when
 * the group answered describe (through `admin`) at another broker.
 */
export async function killCoordinator(cluster: BrokerCluster, admin: QueueAdmin, group: string): Promise<{ old: number; killedAt: number; movedAt: number }> {
  const old = (await findShareCoordinator(cluster, group)).nodeId;
  const killedAt = Date.now();
  await cluster.broker(old).kill();
  await until(async () => {
    const d = await admin.describeGroup(group).catch(() => undefined);
    return d && d.coordinator !== undefined && d.coordinator > 0 && d.coordinator !== old ? true : undefined;
  }, 90_000, `share group ${group} answered by a new coordinator after the SIGKILL of broker ${old}`);
  return { old, killedAt, movedAt: Date.now() };
}

/** The brokers' warn and error log lines (all lives), for a failure message: what went wrong on their side. */
export function brokerWarnings(cluster: BrokerCluster, max = 40): string {
  const lines = cluster.brokers.flatMap((b) => b.logs().split('\n').filter((l) => /"level":"(warn|error)"/.test(l)).map((l) => `broker ${b.nodeId}: ${l}`));
  return lines.slice(-max).join('\n');
}

/**
 * What a queue test across a coordinator move starts with: `topic` (replicated, leaders known),
 * the group's coordinator now (`first`), an admin and an acks=all producer on every broker
 * (closed after the test).
 */
export async function queueAcrossMoves(t: TestContext, cluster: BrokerCluster, group: string, topic: string, partitions: number):
  Promise<{ bootstrap: string[]; first: number; admin: QueueAdmin; producer: Producer }> {
  await createReplicatedTopic(cluster, topic, partitions);
  const bootstrap = cluster.brokers.map((b) => b.url);
  const first = (await findShareCoordinator(cluster, group)).nodeId;
  const admin = new QueueAdmin({ brokers: bootstrap });
  t.after(() => admin.close());
  const producer = new Producer({ brokers: bootstrap, acks: 'all', lingerMs: 5 });
  t.after(() => producer.close());
  return { bootstrap, first, admin, producer };
}
