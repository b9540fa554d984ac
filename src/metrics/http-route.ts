/**
 * `GET /metrics` for node's http server (the broker's HTTP port, or a separate metrics port).
 *
 * Two shapes of the same handler:
 * - `serveMetrics(metrics)` is `(req, res) => Promise<void>`. It fits the broker's route
 *   table (`routes.set('GET /metrics', serveMetrics(metrics))`), which has already matched
 *   the method and path. HEAD is mapped to GET there.
 * - `metricsRoute(metrics)` is `(req, res) => boolean` for a server without a table, such as
 *   a bare metrics port. It answers and returns true when the path is /metrics. Otherwise it
 *   returns false and touches nothing, so the caller can fall through to its own 404.
 *
 * With the no-op metrics, `metricsRoute` always returns false. `metrics: false` means there is
 * no /metrics at all, not an empty one, so do not register `serveMetrics` then either.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BrokerMetrics } from './broker-metrics.js';

export type MetricsRoute = (req: IncomingMessage, res: ServerResponse) => boolean;

export function serveMetrics(metrics: BrokerMetrics): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('method not allowed\n');
      return;
    }
    let body: string;
    try {
      body = await metrics.metricsText();
    } catch (err) {
      // A failed scrape must not take the broker down; Prometheus records it as a failed target.
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(`metrics collection failed: ${err instanceof Error ? err.message : String(err)}\n`);
      return;
    }
    res.writeHead(200, { 'Content-Type': metrics.contentType, 'Content-Length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
}

export function metricsRoute(metrics: BrokerMetrics, path = '/metrics'): MetricsRoute {
  const serve = serveMetrics(metrics);
  return (req, res) => {
    if (!metrics.enabled) return false;
    const url = req.url ?? '';
    const q = url.indexOf('?');
    if ((q === -1 ? url : url.slice(0, q)) !== path) return false;
    void serve(req, res);
    return true;
  };
}
