/**
 * Test utility: a real Prometheus server scraping given targets, for end-to-end metrics
 * tests. It writes a prometheus.yml into a temp dir, starts
 *   prometheus --config.file <dir>/prometheus.yml --storage.tsdb.path <dir>/data
 *              --web.listen-address=127.0.0.1:<free port>
 * waits for /-/ready, answers instant queries through /api/v1/query, and on stop() kills
 * the process and removes the dir.
 *
 * Tests that use it take their skip option from externalTool('prometheus') (test/external-tool.ts:
 * skipped on a machine without it, a failure under CI).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { externalTool } from '../external-tool.js';
import { freePort } from '../free-port.js';

/** The scrape config written for the given targets; also what config/prometheus.yml looks like. */
export function prometheusYaml(targets: readonly string[], intervalSeconds = 1, metricsPath = '/metrics'): string {
  return [
    'global:',
    `  scrape_interval: ${intervalSeconds}s`,
    // Prometheus refuses a timeout longer than the interval; its default is 10s.
    `  scrape_timeout: ${intervalSeconds}s`,
    `  evaluation_interval: ${intervalSeconds}s`,
    'scrape_configs:',
    '  - job_name: sluice',
    `    metrics_path: ${metricsPath}`,
    '    static_configs:',
    `      - targets: [${targets.map((t) => `'${t}'`).join(', ')}]`,
    '',
  ].join('\n');
}

export interface InstantSample {
  metric: Record<string, string>;
  value: number;
  /** The query's evaluation time, ms since the epoch (the end of a range such as [5s]). */
  at: number;
}

export interface StartOptions {
  /** host:port of each /metrics endpoint to scrape. */
  targets: readonly string[];
  intervalSeconds?: number;
  metricsPath?: string;
  readyTimeoutMs?: number;
  binary?: string;
}

export class PrometheusServer {
  private exited = false;
  private stderrTail = '';

  private constructor(
    readonly url: string,
    readonly dir: string,
    private readonly proc: ChildProcess,
  ) {
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (s: string) => (this.stderrTail = (this.stderrTail + s).slice(-4000)));
    proc.once('exit', () => (this.exited = true));
  }

  static async start(opts: StartOptions): Promise<PrometheusServer> {
    const binary = opts.binary ?? externalTool('prometheus').path();
    const dir = await mkdtemp(join(tmpdir(), 'sluice-prom-'));
    const config = join(dir, 'prometheus.yml');
    await writeFile(config, prometheusYaml(opts.targets, opts.intervalSeconds ?? 1, opts.metricsPath));
    const port = await freePort();
    const proc = spawn(
      binary,
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const server = new PrometheusServer(`http://127.0.0.1:${port}`, dir, proc);
    try {
      await server.waitReady(opts.readyTimeoutMs ?? 20_000);
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.exited) throw new Error(`prometheus exited before ready:\n${this.stderrTail}`);
      try {
        if ((await fetch(`${this.url}/-/ready`)).status === 200) return;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    throw new Error(`prometheus not ready after ${timeoutMs} ms:\n${this.stderrTail}`);
  }

  /** An instant query; vector results only (what tests need), values as numbers. */
  async query(expr: string): Promise<InstantSample[]> {
    const res = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await res.json()) as {
      status: string;
      error?: string;
      data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
    };
    if (body.status !== 'success' || body.data === undefined) throw new Error(`query ${expr} failed: ${body.error ?? res.status}`);
    if (body.data.resultType !== 'vector') throw new Error(`query ${expr}: expected a vector, got ${body.data.resultType}`);
    return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]), at: r.value[0] * 1000 }));
  }

  /**
   * Polls `expr` until `accept` holds for its result (default: non-empty), and returns that
   * result. Scrapes land once per interval, so expect to wait a few of them.
   */
  async waitFor(expr: string, accept: (r: InstantSample[]) => boolean = (r) => r.length > 0, timeoutMs = 15_000): Promise<InstantSample[]> {
    const deadline = Date.now() + timeoutMs;
    let last: InstantSample[] = [];
    while (Date.now() < deadline) {
      last = await this.query(expr);
      if (accept(last)) return last;
      await sleep(250);
    }
    throw new Error(`${expr} not as expected after ${timeoutMs} ms; last result ${JSON.stringify(last)}`);
  }

  /** The scrape health of every target, from Prometheus's own `up` series. */
  async targetsUp(): Promise<number[]> {
    return (await this.query('up')).map((s) => s.value);
  }

  async stop(): Promise<void> {
    if (!this.exited) {
      const exited = new Promise<void>((resolve) => this.proc.once('exit', () => resolve()));
      this.proc.kill('SIGTERM');
      const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
