/**
 * The etcd keyspace of one cluster (docs/cluster.md, "The etcd keyspace"): every key under
 * `/<clusterName>/`, so several clusters can share one etcd. The one place key names are built.
 */
export class ClusterKeys {
  readonly root: string;

  constructor(clusterName: string) {
    this.root = `/${clusterName}/`;
  }

  get brokersPrefix(): string { return `${this.root}brokers/`; }
  broker(nodeId: number): string { return `${this.brokersPrefix}${nodeId}`; }
  get controllerPrefix(): string { return `${this.root}controller/`; }
  /** A candidate's key: one per session lease (hex, as etcd's Go election names them). */
  controllerCandidate(leaseId: string): string { return `${this.controllerPrefix}${BigInt(leaseId).toString(16)}`; }
  get topicsPrefix(): string { return `${this.root}topics/`; }
  topic(name: string): string { return `${this.topicsPrefix}${name}`; }
  get partitionsPrefix(): string { return `${this.root}partitions/`; }
  partition(topic: string, partition: number): string { return `${this.partitionsPrefix}${topic}/${partition}`; }
  /** The broker epochs the controller handled last (broker-epochs.ts, KIP-380): one JSON object. */
  get brokerEpochs(): string { return `${this.root}broker-epochs`; }
  /** Compared, never written: the start-up probe of etcd's --max-txn-ops (etcd-txn-limit.ts). */
  get txnProbe(): string { return `${this.root}txn-ops-probe`; }
  get producerIdNext(): string { return `${this.root}producer-ids/next`; }
  /** SCRAM users (auth/etcd-user-store.ts): one key per user, its stored credential as JSON. */
  get usersPrefix(): string { return `${this.root}users/`; }
  user(name: string): string { return `${this.usersPrefix}${name}`; }
  /** The secret unknown users' SCRAM salts are derived from (the same on every broker: auth/user-store.ts). */
  get fakeSaltKey(): string { return `${this.root}scram-fake-salt-key`; }
  /** Client quotas (auth/etcd-quota-store.ts): one key per entity (`user:alice`) and quota name, the rate as text. */
  get quotasPrefix(): string { return `${this.root}quotas/`; }
  quota(entityKey: string, name: string): string { return `${this.quotasPrefix}${entityKey}/${name}`; }
  /** ACL bindings (auth/etcd-acl-store.ts): one key per binding, the binding as JSON. */
  get aclsPrefix(): string { return `${this.root}acls/`; }
  acl(id: string): string { return `${this.aclsPrefix}${id}`; }
}

/**
 * etcd revisions are int64 and arrive as decimal strings. A cluster would need 2^53 writes to
 * leave the exact range of a double, so they are handled as numbers.
 */
export function revision(s: string | number): number {
  return typeof s === 'number' ? s : Number(s);
}
