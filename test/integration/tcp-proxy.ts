/**
 * A TCP proxy for tests that need a network path to go silent: it forwards bytes both ways
 * until hold(), then keeps what it reads (in memory, in order) without writing it on, so
 * both ends see open sockets that carry nothing, as behind a cut cable or a frozen NAT;
 * release() writes what it kept, synchronously, and forwards again. cut() drops every
 * connection (and what was kept) and refuses new ones until restore(): a broken link.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

type Direction = 'toServer' | 'toClient';

interface Pair { client: Socket; server: Socket; kept: Record<Direction, Buffer[]> }

export class TcpProxy {
  private readonly pairs = new Set<Pair>();
  private readonly held = new Set<Direction>();
  private readonly keptWaiters: { dir: Direction; resolve: () => void }[] = [];
  private refusing = false;

  private constructor(private readonly server: Server) {}

  /** Listens on a free port of 127.0.0.1 and forwards each connection to `port` there. */
  static async start(port: number): Promise<TcpProxy> {
    let proxy!: TcpProxy;
    const server = createServer((client) => proxy.accept(client, port));
    proxy = new TcpProxy(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Stops forwarding in `dir` (default both ways); what arrives meanwhile is kept. */
  hold(dir: Direction | 'both' = 'both'): void {
    if (dir === 'both' || dir === 'toServer') this.held.add('toServer');
    if (dir === 'both' || dir === 'toClient') this.held.add('toClient');
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
      for (const b of p.kept.toServer.splice(0)) p.server.write(b);
      for (const b of p.kept.toClient.splice(0)) p.client.write(b);
    }
  }

  /** Destroys every open connection, discarding what was kept, and refuses new ones until restore(). Ends any hold. */
  cut(): void {
    this.refusing = true;
    this.held.clear();
    for (const p of this.pairs) { p.client.destroy(); p.server.destroy(); }
    this.pairs.clear();
  }

  /** Accepts and forwards connections again after cut(). */
  restore(): void {
    this.refusing = false;
  }

  /** Connections open through the proxy. */
  get connections(): number {
    return this.pairs.size;
  }

  async close(): Promise<void> {
    for (const p of this.pairs) { p.client.destroy(); p.server.destroy(); }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket, port: number): void {
    if (this.refusing) {
      client.destroy();
      return;
    }
    const server = connect(port, '127.0.0.1');
    const pair: Pair = { client, server, kept: { toServer: [], toClient: [] } };
    this.pairs.add(pair);
    const forward = (dir: Direction, to: Socket) => (b: Buffer) => {
      if (!this.held.has(dir)) {
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
    const end = () => {
      this.pairs.delete(pair);
      client.destroy();
      server.destroy();
    };
    client.on('close', end);
    server.on('close', end);
    client.on('error', () => {});
    server.on('error', () => {});
  }
}
