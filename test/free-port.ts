/** The one way tests pick a TCP port before starting something on it (a broker behind a proxy, etcd, Prometheus). */
import { createServer, type AddressInfo } from 'node:net';

/** A port nobody listens on right now (the kernel picks it; a race with other processes is possible but rare on loopback). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolveP, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', resolveP);
  });
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolveP) => srv.close(() => resolveP()));
  return port;
}
