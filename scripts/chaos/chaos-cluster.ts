/**
 * The cluster a chaos run breaks: etcd and N brokers (test/cluster/broker-cluster.ts), with
 * two TCP proxies (test/tcp-proxy.ts) per broker so that the nemesis can cut either path:
 *  - `front`: what clients and the other brokers dial (each broker advertises the proxy's URL,
 *    so replica fetches from it go through it too). Cutting it isolates the broker from
 *    everybody dialling in; its own fetches from other leaders still go out.
 *  - `etcdLink`: the broker's only way to etcd.
 * The harness itself reads Metadata over each broker's direct URL, which no fault cuts.
 */
import { TcpProxy } from '../../test/tcp-proxy.js';
import { startBrokerCluster, type BrokerCluster } from '../../test/cluster/broker-cluster.js';

export interface ChaosCluster {
  readonly cluster: BrokerCluster;
  readonly front: ReadonlyMap<number, TcpProxy>;
  readonly etcdLink: ReadonlyMap<number, TcpProxy>;
  /** Every broker's advertised (front proxy) URL, in node id order: the clients' bootstrap list. */
  readonly bootstrap: readonly string[];
  stop(): Promise<void>;
}

export interface ChaosClusterOptions {
  brokers: number;
  sessionTtlMs: number;
  /** Extra flags for every broker. */
  args?: string[];
}

export async function startChaosCluster(opts: ChaosClusterOptions): Promise<ChaosCluster> {
  const front = new Map<number, TcpProxy>();
  const etcdLink = new Map<number, TcpProxy>();
  const closeProxies = async () => {
    await Promise.all([...front.values(), ...etcdLink.values()].map((p) => p.close()));
  };
  let cluster: BrokerCluster;
  try {
    cluster = await startBrokerCluster({
      brokers: opts.brokers,
      sessionTtlMs: opts.sessionTtlMs,
      args: opts.args ?? [],
      async etcdUrlFor(nodeId, etcd) {
        const p = await TcpProxy.start(Number(new URL(etcd.url).port));
        etcdLink.set(nodeId, p);
        return p.url;
      },
      async advertisedUrlFor(nodeId, port) {
        const p = await TcpProxy.start(port);
        front.set(nodeId, p);
        return `ws://127.0.0.1:${p.port}`;
      },
    });
  } catch (err) {
    await closeProxies();
    throw err;
  }
  return {
    cluster,
    front,
    etcdLink,
    bootstrap: cluster.brokers.map((b) => b.advertisedUrl),
    async stop() {
      await cluster.stop();
      await closeProxies();
    },
  };
}
