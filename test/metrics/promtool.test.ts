/**
 * `promtool check metrics` on a full scrape (every sluice family populated, plus the
 * default process/Node metrics) must print nothing: names, units, suffixes and help text
 * all follow Prometheus conventions. Skipped when promtool is not installed (CI installs
 * Debian's `prometheus` package, which ships it).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createBrokerMetrics } from '../../src/metrics/index.js';
import { populateAll } from './fixtures.js';
import { externalTool } from '../external-tool.js';

const promtool = externalTool('promtool');

describe('promtool check metrics', () => {
  it('reports nothing on a full scrape', { skip: promtool.skip }, async () => {
    const m = createBrokerMetrics({ collectDefault: true });
    populateAll(m);
    const text = await m.metricsText();
    assert.match(text, /^sluice_group_lag_seconds\{/m, 'scrape is populated');
    const r = spawnSync(promtool.path(), ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(r.error, undefined);
    assert.equal(r.stdout + r.stderr, '', 'promtool found problems');
    assert.equal(r.status, 0);
  });

  it('would catch a convention break (the check is not vacuous)', { skip: promtool.skip }, () => {
    const bad = '# HELP sluice_lag_ms x\n# TYPE sluice_lag_ms gauge\nsluice_lag_ms 1\n# HELP sluice_bytes_total y\n# TYPE sluice_bytes_total gauge\nsluice_bytes_total 2\n';
    const r = spawnSync(promtool.path(), ['check', 'metrics'], { input: bad, encoding: 'utf8' });
    assert.notEqual(r.stdout + r.stderr, '');
  });
});
