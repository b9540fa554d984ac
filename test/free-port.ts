/** The one way tests pick a TCP port before starting something on it (a broker behind a proxy, etcd, Prometheus). */
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { randomInt } from 'node:crypto';

/**
 * Below the kernel's ephemeral range: a port the kernel hands out for listen(0) is from the
 * same range as the source ports of outgoing connections, so with many clients running (a
 * loaded CI machine, several test files at once) one of them could take it between this
 * pick and the broker's bind (seen: a chaos run's broker failed with EADDRINUSE). Ports
 * below the range are only ever taken by an explicit bind.
 */
function pickRange(): [number, number] | undefined {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (low > 12_000) return [10_000, low];
  } catch {
    // Not Linux: the kernel's pick below.
  }
  return undefined;
}

const RANGE = pickRange();

function tryListen(port: number): Promise<number | undefined> {
  const srv = createServer();
  return new Promise((resolveP, reject) => {
    srv.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' || err.code === 'EACCES' ? resolveP(undefined) : reject(err)));
    srv.listen(port, '127.0.0.1', () => {
      const got = (srv.address() as AddressInfo).port;
      srv.close(() => resolveP(got));
    });
  });
}

/** A port nobody listens on right now, outside the range outgoing connections take theirs from when it can be. */
export async function freePort(): Promise<number> {
  if (RANGE) {
    for (let i = 0; i < 100; i++) {
      const port = await tryListen(randomInt(RANGE[0], RANGE[1]));
      if (port !== undefined) return port;
    }
  }
  const port = await tryListen(0);
  if (port === undefined) throw new Error('no free port');
  return port;
}
