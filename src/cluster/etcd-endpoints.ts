/**
 * The `etcd` setting: etcd endpoints, comma-separated, each `host:port` with an optional
 * `http://` or `https://` (etcd3 strips the scheme and dials host:port over gRPC). Checked
 * before the broker dials, because etcd3 takes anything and only says "circuit breaker is open"
 * after the connect wait, which names neither the value nor what is wrong with it.
 */

const ENDPOINT = /^(?:https?:\/\/)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$/;

/** The endpoints of an `etcd` value, blanks around commas dropped. */
export function etcdEndpoints(value: string): string[] {
  return value.split(',').map((h) => h.trim()).filter(Boolean);
}

/** What is wrong with an `etcd` value, or undefined when every endpoint is host:port with a port in 1..65535. */
export function etcdEndpointsProblem(value: string): string | undefined {
  const hosts = etcdEndpoints(value);
  if (hosts.length === 0) return `names no etcd endpoint (expected host:port[,host:port...], e.g. http://127.0.0.1:2379), got ${JSON.stringify(value)}`;
  for (const h of hosts) {
    const m = ENDPOINT.exec(h);
    const port = m === null ? NaN : Number(m[2]);
    if (!(port >= 1 && port <= 65535)) {
      return `endpoint ${JSON.stringify(h)} is not host:port with a port in 1..65535 (optionally after http:// or https://, e.g. http://127.0.0.1:2379)`;
    }
  }
  return undefined;
}

/**
 * Whether the connection to etcd uses TLS: a CA or a client certificate is given (settings
 * etcdCaFile, etcdCertFile), or an endpoint is https:// (then the system's CAs verify etcd).
 */
export function etcdUsesTls(value: string, caFile: string | undefined, certFile: string | undefined): boolean {
  return caFile !== undefined || certFile !== undefined || etcdEndpoints(value).some((h) => h.startsWith('https://'));
}
