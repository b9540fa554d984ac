/**
 * The links from this broker to the others (a `LinkFactory` of replication/types.ts): one
 * client `Connection` per broker id, dialled at the URL that broker registered in etcd. The
 * one place `broker/` imports `client/`: replica fetches, failsafe checks and forwarded topic
 * changes all go over these. With TLS on they dial wss:// with the broker's CA and present its
 * certificate; with `auth: scram` they log in as the inter-broker user (docs/security.md).
 */
import { SluiceError } from '../errors.js';
import { Connection, type ConnectionOptions } from '../client/connection.js';
import type { ClusterNode } from '../cluster/cluster-node.js';
import type { BrokerLink, LinkFactory } from '../replication/types.js';

/** One client Connection per broker id, reopened when that broker registers with another URL. */
export class BrokerLinks {
  private readonly open = new Map<number, Connection>();
  private closed = false;

  /** `opts`: the links' TLS and login (cluster-context.ts builds them from the settings). */
  constructor(private readonly node: ClusterNode, private readonly opts: ConnectionOptions = {}) {}

  readonly link: LinkFactory = async (nodeId: number): Promise<BrokerLink> => {
    if (this.closed) throw new SluiceError('NETWORK_ERROR', 'broker links are closed (the broker is stopping)');
    const url = this.node.directory.brokers().get(nodeId)?.url;
    const have = this.open.get(nodeId);
    if (url === undefined) {
      if (have) return have; // not registered right now (restarting?): the old link reconnects if it comes back at the same URL
      throw new SluiceError('NOT_CONTROLLER', `broker ${nodeId} is not registered in etcd: no URL to dial`);
    }
    if (have && have.url === url) return have;
    // The old URL's connection is dropped; a failure to close it cleanly leaves nothing to undo.
    if (have) void have.close().catch(() => {});
    const conn = new Connection(url, this.opts);
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

