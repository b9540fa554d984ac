/**
 * Plain-HTTP routes on the broker's port, looked up by method and path. `/healthz` says
 * the process is up; `/readyz` says logs are recovered and requests are accepted (in cluster
 * mode also: the etcd session is valid), and answers 503 with the reason otherwise. Other
 * modules add routes (e.g. `/metrics`) with `routes.set('GET /metrics', handler)`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;
export type RouteTable = Map<string, RouteHandler>;

/** `notReady` says why the broker is not ready, or undefined when it is. */
export function defaultRoutes(notReady: () => string | undefined): RouteTable {
  return new Map<string, RouteHandler>([
    ['GET /healthz', (_req, res) => text(res, 200, 'ok')],
    ['GET /readyz', (_req, res) => {
      const why = notReady();
      return why === undefined ? text(res, 200, 'ready') : text(res, 503, `not ready: ${why}`);
    }],
  ]);
}

export function routeRequest(routes: RouteTable, req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? '/').split('?')[0];
  const handler = routes.get(`${req.method === 'HEAD' ? 'GET' : req.method} ${path}`);
  if (!handler) {
    // A known path asked with another method is 405 with Allow (RFC 9110 15.5.6), not 404:
    // "no such thing" would send an operator looking for a missing route.
    const allow = allowedMethods(routes, path);
    if (allow.length === 0) return text(res, 404, 'not found');
    res.setHeader('allow', allow.join(', '));
    return text(res, 405, 'method not allowed');
  }
  Promise.resolve(handler(req, res)).catch(() => {
    if (!res.headersSent) text(res, 500, 'internal error');
    else res.destroy();
  });
}

/** Methods routed for `path` (GET brings HEAD, as routeRequest maps HEAD to GET). */
function allowedMethods(routes: RouteTable, path: string): string[] {
  const out: string[] = [];
  for (const key of routes.keys()) {
    const sp = key.indexOf(' ');
    if (key.slice(sp + 1) !== path) continue;
    const m = key.slice(0, sp);
    out.push(m);
    if (m === 'GET') out.push('HEAD');
  }
  return out;
}

export function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
