/**
 * The TCP proxy for tests that need a network path to fail: it listens on a free port of
 * 127.0.0.1 and forwards each connection to a target port. Two ways to break the path:
 *  - hold() / release(): the sockets stay open but carry nothing (a frozen NAT, a cable cut
 *    without a reset): what arrives is kept in memory, in order, and release() writes it on,
 *    synchronously, and forwards again. For liveness (ping/pong) tests.
 *  - cut() / restore(): every open connection is destroyed and new ones are refused until
 *    restore() (what a partition looks like to both ends). Between a client and etcd, or a
 *    broker and etcd or another broker.
 *  - holdOpen(): only the connections open now stop forwarding; new ones carry on. Bytes a
 *    client sent on a held connection before closing it still reach the server on release()
 *    (then the server sees the close): TCP delivers what was sent before a FIN, however late.
 *    For a client that gave up on a stalled connection and reconnected.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export type Direction = 'toServer' | 'toClient';

interface Pair {
  client: Socket;
  server: Socket;
  kept: Record<Direction, Buffer[]>;
  /** holdOpen()'s directions for this connection alone. */
  held: Set<Direction>;
  /** The client closed while bytes for the server were held: release() writes them, then ends the server side. */
  lingering: boolean;
}

export class TcpProxy {
  private readonly pairs = new Set<Pair>();
  private readonly held = new Set<Direction>();
  private readonly keptWaiters: { dir: Direction; resolve: () => void }[] = [];
  private isCut = false;

  private constructor(private readonly server: Server) {}

  /** Listens on a free port of 127.0.0.1 and forwards each connection to `targetHost:targetPort`. */
  static async start(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
    let proxy!: TcpProxy;
    const server = createServer((client) => proxy.accept(client, targetPort, targetHost));
    proxy = new TcpProxy(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** http://127.0.0.1:<port>, for clients that take a URL (etcd3's hosts). */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Stops forwarding in `dir` (default both ways); what arrives meanwhile is kept. */
  hold(dir: Direction | 'both' = 'both'): void {
    if (dir === 'both' || dir === 'toServer') this.held.add('toServer');
    if (dir === 'both' || dir === 'toClient') this.held.add('toClient');
  }

  /** Stops forwarding in `dir` on the connections open now only; those opened later forward. */
  holdOpen(dir: Direction): void {
    for (const p of this.pairs) p.held.add(dir);
  }

  /** Resolves once the proxy keeps (does not forward) some bytes going `dir`. */
  whenKept(dir: Direction): Promise<void> {
    for (const p of this.pairs) if (p.kept[dir].length > 0) return Promise.resolve();
    return new Promise((resolve) => this.keptWaiters.push({ dir, resolve }));
  }

  /** Writes what was kept and forwards again, both ways. */
  release(): void {
    this.held.clear();
    for (const p of this.pairs) {
      p.held.clear();
      for (const b of p.kept.toServer.splice(0)) p.server.write(b);
      if (p.lingering) {
        p.server.end();
        continue;
      }
      for (const b of p.kept.toClient.splice(0)) p.client.write(b);
    }
  }

  /** Destroys every open connection (and what was held) and refuses new ones until restore(). */
  cut(): void {
    this.isCut = true;
    // A cut link holds nothing: after restore() the new connections forward both ways.
    this.held.clear();
    this.destroyAll();
  }

  /** Accepts and forwards connections again after cut(). */
  restore(): void {
    this.isCut = false;
  }

  /** Connections open through the proxy. */
  get connections(): number {
    return this.pairs.size;
  }

  async close(): Promise<void> {
    this.destroyAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private destroyAll(): void {
    for (const p of this.pairs) { p.client.destroy(); p.server.destroy(); }
    this.pairs.clear();
  }

  private accept(client: Socket, targetPort: number, targetHost: string): void {
    if (this.isCut) {
      client.destroy();
      return;
    }
    const server = connect(targetPort, targetHost);
    const pair: Pair = { client, server, kept: { toServer: [], toClient: [] }, held: new Set(), lingering: false };
    this.pairs.add(pair);
    const forward = (dir: Direction, to: Socket) => (b: Buffer) => {
      if (pair.lingering && dir === 'toClient') return; // its client is gone
      if (!this.held.has(dir) && !pair.held.has(dir)) {
        to.write(b);
        return;
      }
      pair.kept[dir].push(b);
      for (let i = this.keptWaiters.length - 1; i >= 0; i--) {
        if (this.keptWaiters[i].dir === dir) this.keptWaiters.splice(i, 1)[0].resolve();
      }
    };
    client.on('data', forward('toServer', server));
    server.on('data', forward('toClient', client));
    // One end closing or failing (the target is down, the test cut it) ends the pair.
    const end = () => {
      this.pairs.delete(pair);
      client.destroy();
      server.destroy();
    };
    // The client leaving a holdOpen() connection with bytes kept for the server: they are still
    // delivered on release(), as a FIN does not overtake the data sent before it.
    const clientGone = () => {
      if (pair.held.has('toServer') && pair.kept.toServer.length > 0 && !server.destroyed) {
        pair.lingering = true;
        client.destroy();
        return;
      }
      end();
    };
    client.on('close', clientGone).on('error', clientGone);
    server.on('close', end).on('error', end);
  }
}

/** TcpProxy.start, under the name the cluster tests use. */
export function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  return TcpProxy.start(targetPort, targetHost);
}
