/**
 * `GET /metrics` for node's http server (the broker's HTTP port, or a separate metrics port).
 *
 * The returned handler answers and returns true when the request is for the metrics path,
 * and returns false (touching nothing) otherwise, so the broker can chain it before its own
 * routes or its 404. With the no-op metrics it always returns false: `metrics: false` means
 * there is no /metrics at all, not an empty one.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BrokerMetrics } from './broker-metrics.js';

export type MetricsRoute = (req: IncomingMessage, res: ServerResponse) => boolean;

export function metricsRoute(metrics: BrokerMetrics, path = '/metrics'): MetricsRoute {
  return (req, res) => {
    if (!metrics.enabled) return false;
    const url = req.url ?? '';
    const q = url.indexOf('?');
    if ((q === -1 ? url : url.slice(0, q)) !== path) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('method not allowed\n');
      return true;
    }
    metrics.metricsText().then(
      (body) => {
        res.writeHead(200, { 'Content-Type': metrics.contentType, 'Content-Length': Buffer.byteLength(body) });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (err: unknown) => {
        // A failed scrape must not take the broker down; Prometheus records it as a failed target.
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end(`metrics collection failed: ${err instanceof Error ? err.message : String(err)}\n`);
      },
    );
    return true;
  };
}
