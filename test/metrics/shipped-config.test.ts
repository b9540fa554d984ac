/**
 * The files Sluice ships for operators stay in step with the metrics: config/prometheus.yml
 * is valid, and every metric named by the Grafana dashboard and by docs/metrics.md exists in
 * a full scrape (and every sluice metric is documented). The dashboard's queries are also run
 * against a real Prometheus in prometheus-server.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createBrokerMetrics } from '../../src/metrics/index.js';
import { parseExposition } from './exposition.js';
import { dashboardQueries, populateAll } from './fixtures.js';
import { externalTool } from '../external-tool.js';

const METRIC_NAME = /\b((?:sluice|nodejs|process)_[a-z0-9_]+)\b/g;

async function scrapedFamilies(): Promise<Set<string>> {
  const m = createBrokerMetrics({ collectDefault: true });
  populateAll(m);
  return new Set(parseExposition(await m.metricsText()).type.keys());
}

/** The family a sample name belongs to: histogram series drop their _bucket/_sum/_count. */
function familyOf(name: string, families: Set<string>): string {
  if (families.has(name)) return name;
  return name.replace(/_(bucket|sum|count)$/, '');
}

describe('shipped operator files', () => {
  it('config/prometheus.yml scrapes 127.0.0.1:9400 and passes promtool check config', { skip: externalTool('promtool').skip }, () => {
    assert.match(readFileSync('config/prometheus.yml', 'utf8'), /targets: \['127\.0\.0\.1:9400'\]/);
    const r = spawnSync(externalTool('promtool').path(), ['check', 'config', 'config/prometheus.yml'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  it('the Grafana dashboard only queries metrics the broker exports', async () => {
    const families = await scrapedFamilies();
    const queries = dashboardQueries();
    assert.ok(queries.length >= 20);
    for (const q of queries) {
      for (const [, name] of q.matchAll(METRIC_NAME)) {
        assert.ok(families.has(familyOf(name, families)), `dashboard uses unknown metric ${name} in ${q}`);
      }
    }
  });

  it('docs/metrics.md documents every sluice metric and names no metric that does not exist', async () => {
    const families = await scrapedFamilies();
    const doc = readFileSync('docs/metrics.md', 'utf8');
    for (const f of families) if (f.startsWith('sluice_')) assert.ok(doc.includes(`\`${f}\``), `${f} is not documented`);
    for (const [, name] of doc.matchAll(METRIC_NAME)) {
      if (name.startsWith('sluice_')) assert.ok(families.has(familyOf(name, families)), `docs name unknown metric ${name}`);
    }
  });
});
